"""python -m services.healer"""

import sys

from services.healer.service import main

sys.exit(main())

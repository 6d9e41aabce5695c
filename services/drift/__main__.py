"""python -m services.drift"""

import sys

from services.drift.service import main

sys.exit(main())

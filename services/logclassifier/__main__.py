"""python -m services.logclassifier [serve | classify FILE | evaluate]"""

import sys

from services.logclassifier.cli import main

sys.exit(main())

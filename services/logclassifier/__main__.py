"""`python -m services.logclassifier`: the service, settings from the AIG_* environment."""

import sys

from services.common.service import main
from services.logclassifier.service import build
from services.logclassifier.settings import LogClassifierSettings

if __name__ == "__main__":
    sys.exit(main(build, LogClassifierSettings))

"""`python -m services.drift`: the service, settings from the AIG_* environment."""

import sys

from services.common.service import main
from services.drift.service import build
from services.drift.settings import DriftSettings

if __name__ == "__main__":
    sys.exit(main(build, DriftSettings))

"""`python -m services.healer`: the service, settings from the AIG_* environment."""

import sys

from services.common.service import main
from services.healer.service import build
from services.healer.settings import HealerSettings

if __name__ == "__main__":
    sys.exit(main(build, HealerSettings))

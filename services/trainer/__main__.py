"""`python -m services.trainer`: the service, settings from the AIG_* environment."""

import sys

from services.common.service import main
from services.trainer.service import build
from services.trainer.settings import TrainerSettings

if __name__ == "__main__":
    sys.exit(main(build, TrainerSettings))

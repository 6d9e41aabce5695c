"""``python -m services.trainer``"""

import sys

from services.trainer.service import run
from services.trainer.settings import TrainerSettings

if __name__ == "__main__":
    sys.exit(run(TrainerSettings()))

"""`python -m services.inference`: the service, settings from the AIG_* environment."""

import sys

from services.common.service import main
from services.inference.service import build
from services.inference.settings import InferenceSettings

if __name__ == "__main__":
    sys.exit(main(build, InferenceSettings))

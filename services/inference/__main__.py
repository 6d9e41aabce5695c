"""``python -m services.inference``"""

import sys

from services.inference.service import run
from services.inference.settings import InferenceSettings

if __name__ == "__main__":
    sys.exit(run(InferenceSettings()))

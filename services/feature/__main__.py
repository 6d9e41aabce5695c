"""``python -m services.feature``"""

import sys

from services.feature.service import run
from services.feature.settings import FeatureSettings

if __name__ == "__main__":
    sys.exit(run(FeatureSettings()))

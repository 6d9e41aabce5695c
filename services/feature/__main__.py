"""`python -m services.feature`: the service, settings from the AIG_* environment."""

import sys

from services.common.service import main
from services.feature.service import build
from services.feature.settings import FeatureSettings

if __name__ == "__main__":
    sys.exit(main(build, FeatureSettings))

"""`python -m services.ingest`: the service, settings from the AIG_* environment."""

import sys

from services.common.service import main
from services.ingest.service import build
from services.ingest.settings import IngestSettings

if __name__ == "__main__":
    sys.exit(main(build, IngestSettings))

"""``python -m services.ingest``"""

import sys

from services.ingest.service import run
from services.ingest.settings import IngestSettings

if __name__ == "__main__":
    sys.exit(run(IngestSettings()))

"""The isolated pipeline both end-to-end pipeline tests run against: four real service processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.pipeline import Pipeline


@pytest.fixture
def pipeline(infra: dict[str, str], tmp_path: Path) -> Iterator[Pipeline]:
    """Ingest, feature, trainer and inference on their own topics, schema and ports; always stopped."""
    env = {
        "AIG_MIN_ROWS": "600",  # a few seconds of labelled traffic: the first model appears early in the run
        "AIG_CHECK_INTERVAL_S": "2",
        "AIG_NUM_BOOST_ROUND": "60",
        "AIG_COMMIT_INTERVAL_S": "0.5",
    }
    pipe = Pipeline(tmp_path, base_dsn=infra["postgres_dsn"], env=env)
    try:
        pipe.start()
        yield pipe
    finally:
        codes = pipe.stop()
        print(f"service exit codes: {codes}")

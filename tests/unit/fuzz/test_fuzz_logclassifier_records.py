"""The log-classifier's record handling under arbitrary log records: each batch gives incidents the codec can
encode, or nothing, and never raises (a raising batch would be dead-lettered record by record).

The input is every record the codec can hand over on ``logs`` (the Avro schema's types, any values). The
sentence-embedding model is replaced by a hashed bag of words: cleaning, masking, template mining,
classification and aggregation run as in the service, at a speed that lets a few hundred batches through.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from services.common.bus import Event
from services.common.codec import codec_for
from services.common.settings import REPO_ROOT
from services.logclassifier.aggregator import BurstAggregator
from services.logclassifier.build import build_classifier
from services.logclassifier.classifier import Embedder
from services.logclassifier.handlers import LEVELS, LogRecordHandler
from services.logclassifier.masking import prepare
from services.logclassifier.settings import LogClassifierSettings
from tests.unit.fuzz.fuzz_strategies import FUZZ, avro_values

CODEC = codec_for(REPO_ROOT / "schemas")
LOG_RECORD: dict[str, Any] = json.loads((REPO_ROOT / "schemas" / "LogRecord.avsc").read_text())
SERVICES = ["inference", "feature", "ingest"]
OWN = "logclassifier"


class HashedWords(Embedder):
    """Each word hashed into one of 64 dimensions, normalised: deterministic, fast, no model to load."""

    def load(self) -> None:
        return None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                vectors[row, hashlib.blake2b(word.encode("utf-8", "replace"), digest_size=1).digest()[0] % 64] += 1
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.where(norms == 0, 1, norms), dtype=np.float32)


CLASSIFIER = build_classifier(LogClassifierSettings(log_to_kafka=False), persistent=False, embedder=HashedWords())

messages = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6391. Connection refused.",
            "OSError: [Errno 28] No space left on device",
            'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: Input X contains NaN.',
            "\x00\x01\x02\ufffd\ufffd\ufffd\ufffd",
            "1234 5678 ::: ///",
            "x" * 40_000,
        ]
    ),
    st.text(max_size=300),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Co"]), max_size=300),  # control and blank characters
)
records = st.builds(
    lambda record, service, level, message, traceback, logger: {
        **record,
        "service": service,
        "level": level,
        "message": message,
        "traceback": traceback,
        "logger": logger,
    },
    avro_values(LOG_RECORD),
    st.one_of(st.sampled_from([*SERVICES, OWN, "", "  "]), st.text(max_size=120)),
    st.one_of(st.sampled_from(sorted(LEVELS)), st.sampled_from(["error", "", "TRACE"]), st.text(max_size=10)),
    messages,
    st.one_of(st.none(), messages),
    st.one_of(st.sampled_from(["aig.bus", "root"]), st.text(max_size=10)),
)
batches = st.lists(records, min_size=1, max_size=8).map(
    lambda values: [Event("logs", 0, i, None, v, b"", 1_700_000_000_000 + i) for i, v in enumerate(values)]
)


def _event(**fields: Any) -> Event:
    value = {"service": "inference", "level": "ERROR", "message": "OSError: [Errno 28] No space left on device"}
    return Event("logs", 0, 0, None, {**value, **fields}, b"", 1_700_000_000_000)


def _handler() -> LogRecordHandler:
    aggregator = BurstAggregator(window_s=60, min_count=2, cooldown_s=1, update_interval_s=0)
    return LogRecordHandler(CLASSIFIER, aggregator, OWN, SERVICES, echo_loggers=["aig.bus"])


@FUZZ
@given(batch=batches)
@example(batch=[Event("logs", 0, 0, None, {"service": "inference", "level": "ERROR", "message": ""}, b"", 0)])
@example(batch=[Event("logs", 0, 0, None, {"ts": -1, "message": "OSError: [Errno 28]"}, b"", -5)] * 3)
@example(batch=[_event(ts=253_402_300_800_000)] * 3)  # a time after the year 9999
def test_any_batch_of_log_records_gives_encodable_incidents_or_none(batch: list[Event]) -> None:
    outs = _handler().handle_batch(batch)
    for out in outs:
        assert out.topic == "incidents" and out.key == out.value["fingerprint"]
        CODEC.encode("Incident", out.value)


@FUZZ
@given(
    message=st.one_of(messages, st.binary(max_size=200), st.none(), st.integers()),
    traceback=st.one_of(st.none(), messages),
)
def test_any_message_is_cleaned_to_bounded_text(message: object, traceback: str | None) -> None:
    prepared = prepare(message, traceback, max_chars=2000)
    assert len(prepared.text) <= 2000
    assert prepared.problem in (None, "empty", "binary", "oversized")

"""Signed control events (incidents, model events, log records): what a forged, tampered or unsigned one gets,
and that a signature survives the Avro round trip and a newer reader schema."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from pydantic import SecretStr

from services.common.bus import EventProducer
from services.common.codec import AvroCodec, codec_for
from services.common.events import header
from services.common.logs import KafkaLogHandler
from services.common.settings import REPO_ROOT, CommonSettings
from services.common.signing import UnsignedEvent, authenticate_event, sign_event

KEYS = CommonSettings(command_key=SecretStr("guard-key"), service_name="t", kafka_bootstrap="127.0.0.1:1")
OTHER_KEY = CommonSettings(command_key=SecretStr("another-key"), service_name="t")
NO_KEY = CommonSettings(command_key=None, service_name="t")
CODEC = codec_for(REPO_ROOT / "schemas")


def incident() -> dict[str, Any]:
    return {
        **header("drift"),
        "incident_id": "i-1",
        "fingerprint": "data_drift:inference:salary_k",
        "type": "data_drift",
        "root_cause": None,
        "service": "inference",
        "target": "salary_k",
        "severity": "warning",
        "summary": "salary_k moved",
        "explanation": "",
        "count": 1,
        "first_seen": 1_700_000_000_000,
        "last_seen": 1_700_000_000_500,
        "evidence": {"detector": "adwin"},
    }


def model_event() -> dict[str, Any]:
    return {
        **header("trainer"),
        "model_name": "apply",
        "version": 3,
        "status": "live",
        "previous_version": 2,
        "artifact_uri": "file:///models/apply/3",
        "metrics": {"auc": 0.81, "rows": 5000},  # an int where the schema holds doubles
        "params": {"gated": "true"},
        "reason": "",
        "profile": [
            {
                "feature": "salary_k",
                "kind": "numeric",
                "edges": [0, 50.5, 100],
                "categories": [],
                "fractions": [0.5, 0.5],
                "mean": 55.0,
                "std": 12.5,
                "null_rate": 0,
            }
        ],
        "command_id": "c-1",
    }


CASES = [("incidents", "Incident", incident), ("model.events", "ModelPublished", model_event)]


@pytest.mark.parametrize(("topic", "schema", "make"), CASES)
def test_a_signed_event_survives_the_avro_round_trip(topic: str, schema: str, make: Any) -> None:
    decoded = CODEC.decode(CODEC.encode(schema, sign_event(topic, make(), KEYS)), schema)
    authenticate_event(topic, decoded, KEYS)


@pytest.mark.parametrize(("topic", "schema", "make"), CASES)
def test_forged_tampered_and_unsigned_events_are_refused_with_the_reason(topic: str, schema: str, make: Any) -> None:
    signed = sign_event(topic, make(), KEYS)
    tampered = {**signed, "source": "someone"}
    with pytest.raises(UnsignedEvent, match="signature does not match"):
        authenticate_event(topic, tampered, KEYS)
    with pytest.raises(UnsignedEvent, match="signature does not match"):
        authenticate_event(topic, sign_event(topic, make(), OTHER_KEY), KEYS)
    with pytest.raises(UnsignedEvent, match="unsigned"):
        authenticate_event(topic, make(), KEYS)
    with pytest.raises(UnsignedEvent, match="holds no key"):
        authenticate_event(topic, signed, NO_KEY)
    with pytest.raises(UnsignedEvent, match="AIG_COMMAND_KEY is not set"):
        sign_event(topic, make(), NO_KEY)


def test_a_nested_change_is_caught_too() -> None:
    signed = sign_event("model.events", model_event(), KEYS)
    poisoned = copy.deepcopy(signed)
    poisoned["profile"][0]["mean"] = 5500.0  # a reference that would make every live value look skewed
    with pytest.raises(UnsignedEvent, match="signature does not match"):
        authenticate_event("model.events", poisoned, KEYS)


def test_an_event_of_the_schema_before_signatures_is_refused_as_unsigned() -> None:
    old_schema = json.loads((REPO_ROOT / "schemas" / "history" / "Incident" / "v1.avsc").read_text())
    old_writer = AvroCodec()
    old_writer.register(old_schema, current=True)
    decoded = CODEC.decode(old_writer.encode("Incident", incident()), "Incident")
    assert decoded["signature"] is None
    with pytest.raises(UnsignedEvent, match="unsigned"):
        authenticate_event("incidents", decoded, KEYS)


def test_a_newer_reader_schema_with_an_added_field_still_authenticates() -> None:
    newer = json.loads((REPO_ROOT / "schemas" / "Incident.avsc").read_text())
    newer["fields"].append({"name": "added_later", "type": "string", "default": "x"})
    reader = AvroCodec()
    reader.register(json.loads((REPO_ROOT / "schemas" / "Incident.avsc").read_text()), current=False)
    reader.register(newer, current=True)
    decoded = reader.decode(CODEC.encode("Incident", sign_event("incidents", incident(), KEYS)), "Incident")
    assert decoded["added_later"] == "x"
    authenticate_event("incidents", decoded, KEYS)


def test_the_producer_signs_control_events_and_leaves_other_topics_alone() -> None:
    producer = EventProducer(KEYS)
    decoded = CODEC.decode(producer.encode("incidents", incident()), "Incident")
    authenticate_event("incidents", decoded, KEYS)
    label = {**header("loadgen"), "interaction_id": "x", "member_id": "m", "applied": True}
    assert "signature" not in CODEC.decode(producer.encode("labels", label), "Label")
    with pytest.raises(UnsignedEvent, match="AIG_COMMAND_KEY is not set"):
        EventProducer(NO_KEY.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})).encode("incidents", incident())


def test_log_records_sent_to_kafka_are_signed() -> None:
    handler = KafkaLogHandler(KEYS)
    try:
        record = logging.LogRecord("svc", logging.ERROR, __file__, 1, "redis down: %s", ("timeout",), None)
        decoded = CODEC.decode(handler._encode(record), "LogRecord")
        assert decoded["message"] == "redis down: timeout"
        authenticate_event("logs", decoded, KEYS)
    finally:
        handler.close()

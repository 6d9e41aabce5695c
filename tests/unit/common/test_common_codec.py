"""The Avro codec: round trips, schema evolution, and clear errors for bad bytes."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastavro.utils import generate_many

from services.common.codec import MAGIC, AvroCodec, CodecError
from services.common.events import header
from services.common.settings import REPO_ROOT

SCHEMAS = REPO_ROOT / "schemas"


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec.from_dir(SCHEMAS)


def test_catalogue_has_one_schema_per_event_type(codec: AvroCodec) -> None:
    assert codec.names == sorted(
        [
            "Command",
            "DeadLetter",
            "FeatureVector",
            "HealingAction",
            "Incident",
            "Interaction",
            "Label",
            "LogRecord",
            "ModelPublished",
            "Prediction",
        ]
    )


@pytest.mark.parametrize("name", sorted(p.stem for p in SCHEMAS.glob("*.avsc")))
def test_every_schema_round_trips(codec: AvroCodec, name: str) -> None:
    schema = codec.current(name).parsed
    for record in generate_many(schema, 25):
        data = codec.encode(name, record)
        assert data[:2] == MAGIC
        assert data[2:10] == codec.current(name).fingerprint
        assert codec.decode(data, name) == record
        assert codec.decode(data) == record  # the writer's own name is the default reader


def _incident_v1() -> dict[str, Any]:
    """The Incident schema as first published: no root_cause, target, explanation or evidence."""
    current: dict[str, Any] = json.loads((SCHEMAS / "Incident.avsc").read_text())
    old = copy.deepcopy(current)
    old["fields"] = [f for f in old["fields"] if f["name"] not in {"root_cause", "target", "explanation", "evidence"}]
    return old


def test_record_from_older_writer_is_read_by_newer_reader(codec: AvroCodec) -> None:
    old_writer = AvroCodec()
    old_writer.register(_incident_v1(), current=True)
    codec.register(_incident_v1())  # known as a past version, not current
    record = {
        **header("drift"),
        "incident_id": "i-1",
        "fingerprint": "data_drift:salary_k",
        "type": "data_drift",
        "service": "feature",
        "severity": "warning",
        "summary": "salary_k shifted",
        "count": 1,
        "first_seen": 1_700_000_000_000,
        "last_seen": 1_700_000_000_000,
    }
    data = old_writer.encode("Incident", record)
    assert data[2:10] != codec.current("Incident").fingerprint
    decoded = codec.decode(data, "Incident")
    assert decoded["summary"] == "salary_k shifted"
    assert decoded["root_cause"] is None and decoded["target"] is None
    assert decoded["explanation"] == "" and decoded["evidence"] == {}


def test_new_reader_rejects_old_writer_without_known_version() -> None:
    fresh = AvroCodec.from_dir(SCHEMAS)
    old_writer = AvroCodec()
    old_writer.register(_incident_v1(), current=True)
    record = {
        **header("x"),
        "incident_id": "i",
        "fingerprint": "f",
        "type": "data_drift",
        "service": "s",
        "severity": "warning",
        "summary": "s",
        "count": 1,
        "first_seen": 0,
        "last_seen": 0,
    }
    with pytest.raises(CodecError, match=r"unknown writer schema fingerprint [0-9a-f]{16}"):
        fresh.decode(old_writer.encode("Incident", record))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"\x00\x01garbage-bytes-here", "not Avro single-object encoding: first bytes 0001"),
        (b'{"json": "is not avro"}', "not Avro single-object encoding"),
        (MAGIC + b"\x01\x02\x03\x04\x05\x06\x07\x08body", "unknown writer schema fingerprint 0102030405060708"),
    ],
)
def test_garbage_raises_codec_error_with_reason(codec: AvroCodec, data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        codec.decode(data, "Interaction")


def test_truncated_body_is_corrupt(codec: AvroCodec) -> None:
    record = next(generate_many(codec.current("Label").parsed, 1))
    data = codec.encode("Label", record)
    with pytest.raises(CodecError, match="corrupt Label body: EOFError"):
        codec.decode(data[:-3], "Label")


def test_wrong_event_type_is_named(codec: AvroCodec) -> None:
    record = next(generate_many(codec.current("Label").parsed, 1))
    with pytest.raises(CodecError, match="event is a Label, expected a Incident"):
        codec.decode(codec.encode("Label", record), "Incident")


def test_encoding_an_invalid_record_says_which_schema(codec: AvroCodec) -> None:
    with pytest.raises(CodecError, match="cannot encode Label: required field 'ts' missing"):
        codec.encode("Label", {"event_id": "x"})
    good = next(generate_many(codec.current("Label").parsed, 1))
    with pytest.raises(CodecError, match="cannot encode Label"):
        codec.encode("Label", {**good, "applied_typo": True})
    with pytest.raises(CodecError, match="unknown schema 'Nope'"):
        codec.encode("Nope", {})


def test_invalid_schema_is_rejected() -> None:
    with pytest.raises(CodecError, match="invalid Avro schema"):
        AvroCodec().register({"type": "record", "name": "Bad", "fields": [{"name": "x", "type": "nosuchtype"}]})

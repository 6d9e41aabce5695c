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
            "AuditRecord",
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


# ---------------------------------------------------------------- golden bytes, computed without the codec
def _crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO as the Avro specification writes it out (schema fingerprints), independent of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_the_reference_crc_matches_the_avro_projects_own_vectors() -> None:
    # Published by the Avro project (its Ruby and C# fingerprint tests) and by goavro.
    assert _crc64_avro(b'"int"') == 0x7275D51A3F395C8F
    assert _crc64_avro(b'"string"') == 0x8F014872634503C7
    assert _crc64_avro(b'"null"') == 7195948357588979594


def test_single_object_framing_against_golden_bytes() -> None:
    """Magic ``C3 01``, the fingerprint of the parsing canonical form little-endian, then the binary body."""
    codec = AvroCodec()
    codec.register(
        {
            "type": "record",
            "name": "Golden",
            "namespace": "aig.test",
            "doc": "dropped by the canonical form",
            "fields": [{"name": "n", "type": "int"}, {"name": "s", "type": "string", "default": "x"}],
        },
        current=True,
    )
    canonical = (
        b'{"name":"aig.test.Golden","type":"record","fields":[{"name":"n","type":"int"},{"name":"s","type":"string"}]}'
    )
    fingerprint = _crc64_avro(canonical).to_bytes(8, "little")
    # n = -2 zig-zags to 3; s = "hi" is its length 2 (zig-zag 4) then the UTF-8 bytes.
    golden = b"\xc3\x01" + fingerprint + b"\x03" + b"\x04hi"
    assert codec.encode("Golden", {"n": -2, "s": "hi"}) == golden
    assert codec.decode(golden) == {"n": -2, "s": "hi"}
    assert codec.current("Golden").fingerprint == fingerprint

"""The Avro codec under arbitrary input: what encodes decodes back equal, and bytes that are not a valid event
raise CodecError (the bus dead-letters on it) and never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.common.codec import MAGIC, AvroCodec, CodecError
from services.common.settings import REPO_ROOT
from tests.unit.fuzz.fuzz_strategies import FUZZ, avro_values, json_values, mutated, same

SCHEMAS = REPO_ROOT / "schemas"
CODEC = AvroCodec.from_dir(SCHEMAS)
NAMES = CODEC.names
CURRENT = {name: CODEC.current(name).raw for name in NAMES}
RECORDS = {name: avro_values(schema) for name, schema in CURRENT.items()}
# The single-object header of every schema version the codec reads, older writers included.
PREFIXES = sorted(
    AvroCodec().register(json.loads(path.read_text())).prefix
    for path in [*SCHEMAS.glob("*.avsc"), *SCHEMAS.glob("history/*/*.avsc")]
)

named_records = st.sampled_from(NAMES).flatmap(lambda name: st.tuples(st.just(name), RECORDS[name]))


def _with_defaults(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` completed as the encoder completes it: a missing field with a default takes the default."""
    defaults = {f["name"]: f["default"] for f in CURRENT[name]["fields"] if "default" in f}
    return {**{k: v for k, v in defaults.items() if k not in record}, **record}


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data())
def test_every_value_the_schema_allows_decodes_back_equal(name: str, data: st.DataObject) -> None:
    record = data.draw(RECORDS[name])
    encoded = CODEC.encode(name, record)
    assert encoded.startswith(CODEC.current(name).prefix)
    assert same(CODEC.decode(encoded, name), record)
    assert same(CODEC.decode(encoded), record)


@FUZZ
@given(data=st.data(), named=named_records)
def test_a_record_that_encodes_decodes_back_equal_else_codec_error(
    data: st.DataObject, named: tuple[str, dict[str, Any]]
) -> None:
    """Wrong types, missing and unknown fields are refused with CodecError; nothing is coerced in silence."""
    name, valid = named
    fields = st.sampled_from([f["name"] for f in CURRENT[name]["fields"]])
    record = data.draw(mutated(valid, fields))
    try:
        encoded = CODEC.encode(name, record)
    except CodecError:
        return
    assert same(CODEC.decode(encoded, name), _with_defaults(name, record))


@FUZZ
@given(value=json_values, name=st.one_of(st.sampled_from(NAMES), st.text(max_size=12)))
def test_anything_that_is_not_a_record_is_refused_on_encode(value: Any, name: str) -> None:
    try:
        encoded = CODEC.encode(name, value)
    except CodecError:
        return
    assert isinstance(value, dict) and same(CODEC.decode(encoded, name), _with_defaults(name, value))


@st.composite
def damaged_events(draw: st.DrawFn) -> bytes:
    """A valid event cut short, with bytes flipped, inserted or appended."""
    name, record = draw(named_records)
    data = bytearray(CODEC.encode(name, record))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["cut", "flip", "insert"]))
        if kind == "cut":
            del data[at:]
        elif kind == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
    return bytes(data)


hostile_bytes = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda fp, body: MAGIC + fp + body, st.binary(min_size=8, max_size=8), st.binary(max_size=64)),
    st.builds(bytes.__add__, st.sampled_from(PREFIXES), st.binary(max_size=256)),
    damaged_events(),
)
readers = st.one_of(st.none(), st.sampled_from(NAMES), st.text(max_size=12))


@FUZZ
@given(data=hostile_bytes, reader=readers)
@example(data=b"", reader=None)
@example(data=MAGIC, reader=None)
@example(data=PREFIXES[0], reader=None)
@example(data=PREFIXES[0] + b"\xff" * 16, reader=None)  # a varint that never ends
@example(data=PREFIXES[0] + b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", reader=None)  # a huge length
def test_arbitrary_bytes_decode_to_a_record_or_raise_codec_error(data: bytes, reader: str | None) -> None:
    try:
        record = CODEC.decode(data, reader)
    except CodecError:
        return
    assert isinstance(record, dict)


@FUZZ
@given(data=st.one_of(st.text(max_size=20), st.integers(), st.none(), st.lists(st.integers(0, 255), max_size=12)))
@example(data=None)  # a Kafka record without a value (a tombstone), as faust hands it over
def test_a_value_that_is_not_bytes_raises_codec_error(data: Any) -> None:
    with pytest.raises(CodecError):
        CODEC.decode(data)

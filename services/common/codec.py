"""Avro single-object encoding (Avro spec): ``C3 01`` + 8-byte CRC-64-AVRO fingerprint + binary body.

No registry server is needed: the reader looks the writer schema up by fingerprint among every
known version and resolves it to its own (reader) schema, so schemas evolve by adding fields with
defaults. Older versions live in ``schemas/history/<Name>/*.avsc`` or are added with :meth:`register`.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_LEN = 10


class CodecError(ValueError):
    """An event could not be encoded or decoded; the message says why."""


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    fingerprint: bytes
    parsed: Any
    raw: dict[str, Any]


def _fingerprint(parsed: Any) -> bytes:
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


class AvroCodec:
    """Encodes and decodes events by schema name (the record's short name, e.g. ``Incident``)."""

    def __init__(self) -> None:
        self._current: dict[str, SchemaVersion] = {}
        self._by_fp: dict[bytes, SchemaVersion] = {}

    @classmethod
    def from_dir(cls, directory: Path | str) -> AvroCodec:
        """Load ``*.avsc`` as current versions and ``history/<Name>/*.avsc`` as older writers."""
        directory = Path(directory)
        files = sorted(directory.glob("*.avsc"))
        if not files:
            raise CodecError(f"no *.avsc schema files in {directory}")
        codec = cls()
        for path in files:
            codec.register(_load_json(path), current=True)
        for path in sorted(directory.glob("history/*/*.avsc")):
            codec.register(_load_json(path), current=False)
        return codec

    def register(self, schema: dict[str, Any], *, current: bool = False) -> SchemaVersion:
        """Add a schema version; ``current=True`` makes it the version this process writes and reads."""
        try:
            parsed = fastavro.parse_schema(_plain_timestamps(schema), _write_hint=False)
        except Exception as exc:  # fastavro raises several types for bad schemas
            raise CodecError(f"invalid Avro schema {schema.get('name', '?')!r}: {exc}") from exc
        name = str(schema["name"]).rsplit(".", 1)[-1]
        version = SchemaVersion(name, _fingerprint(parsed), parsed, schema)
        self._by_fp[version.fingerprint] = version
        if current:
            self._current[name] = version
        return version

    @property
    def names(self) -> list[str]:
        return sorted(self._current)

    def current(self, name: str) -> SchemaVersion:
        try:
            return self._current[name]
        except KeyError:
            raise CodecError(f"unknown schema {name!r}; known: {', '.join(self.names)}") from None

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        """Encode ``record`` with the current version of schema ``name``."""
        version = self.current(name)
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(version.fingerprint)
        try:
            fastavro.schemaless_writer(buf, version.parsed, record)
        except Exception as exc:
            raise CodecError(f"cannot encode {name}: {exc}") from exc
        return buf.getvalue()

    def writer_of(self, data: bytes) -> SchemaVersion:
        """The schema version that wrote ``data``."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CodecError(f"expected bytes, got {type(data).__name__}")
        if len(data) < HEADER_LEN:
            raise CodecError(f"message of {len(data)} bytes is too short for Avro single-object encoding")
        if data[:2] != MAGIC:
            raise CodecError(
                f"not Avro single-object encoding: first bytes {bytes(data[:2]).hex()} instead of c301"
            )
        fp = bytes(data[2:HEADER_LEN])
        version = self._by_fp.get(fp)
        if version is None:
            raise CodecError(f"unknown writer schema fingerprint {fp.hex()}: no known schema version has it")
        return version

    def decode(self, data: bytes, name: str | None = None) -> dict[str, Any]:
        """Decode ``data``, resolving the writer schema to the current version of ``name``.

        ``name`` defaults to the writer's own schema name; a mismatch raises :class:`CodecError`.
        """
        writer = self.writer_of(data)
        reader = self.current(name or writer.name)
        if writer.name != reader.name:
            raise CodecError(f"event is a {writer.name}, expected a {reader.name}")
        buf = io.BytesIO(data)
        buf.seek(HEADER_LEN)
        try:
            if writer is reader:
                record = fastavro.schemaless_reader(buf, writer.parsed, None)
            else:
                record = fastavro.schemaless_reader(buf, writer.parsed, reader.parsed)
        except Exception as exc:
            raise CodecError(f"corrupt {writer.name} body: {type(exc).__name__}: {exc}") from exc
        if buf.tell() != len(data):
            raise CodecError(f"corrupt {writer.name} body: {len(data) - buf.tell()} trailing bytes")
        if not isinstance(record, dict):
            raise CodecError(f"{writer.name} did not decode to a record")
        return record


def _plain_timestamps(node: Any) -> Any:
    """Drop ``timestamp-millis`` logical types so times stay epoch-millisecond ints in Python.

    The canonical form (and so the fingerprint) ignores logical types, so the wire is unchanged.
    """
    if isinstance(node, dict):
        if node.get("logicalType") == "timestamp-millis":
            return {k: _plain_timestamps(v) for k, v in node.items() if k != "logicalType"}
        return {k: _plain_timestamps(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain_timestamps(v) for v in node]
    return node


def _load_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CodecError(f"cannot read schema {path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise CodecError(f"schema {path} is not a JSON object")
    return loaded


_DEFAULT: dict[Path, AvroCodec] = {}


def codec_for(directory: Path) -> AvroCodec:
    """A codec per schema directory, loaded once per process."""
    directory = Path(directory).resolve()
    if directory not in _DEFAULT:
        _DEFAULT[directory] = AvroCodec.from_dir(directory)
    return _DEFAULT[directory]

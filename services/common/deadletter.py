"""The dead-letter record (schemas/DeadLetter.avsc): what could not be used, where it came from, and why.

Every consumer that refuses an input (the bus for every service, the feature worker for its faust
stream) writes this one record, so an operator reads one shape whatever the service.
"""

from __future__ import annotations

import hashlib
from typing import Any

from services.common.events import header

MAX_ERROR_CHARS = 10_000
# A dead letter must always fit in a Kafka message (1 MB by default), whatever it carries: an input
# near that size would otherwise make the dead-letter produce fail and the consumer crash-loop on it.
MAX_RAW_BYTES = 64 * 1024
MAX_KEY_BYTES = 1024


def dead_letter_record(
    source: str,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | str | None,
    error_type: str,
    error: str,
    consumer_group: str,
    raw: bytes | None,
) -> dict[str, Any]:
    """A DeadLetter record for the input at ``topic[partition]@offset`` (logical topic name, no prefix).

    A large input keeps its first MAX_RAW_BYTES, with the size and SHA-256 of the whole.
    """
    raw = raw or b""
    key_bytes = key.encode() if isinstance(key, str) else key
    return {
        **header(source),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key_bytes[:MAX_KEY_BYTES] if key_bytes is not None else None,
        "error_type": error_type,
        "error": error[:MAX_ERROR_CHARS],
        "consumer_group": consumer_group,
        "raw": raw[:MAX_RAW_BYTES],
        "raw_size": len(raw),
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
    }

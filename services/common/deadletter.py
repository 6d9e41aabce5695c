"""The dead-letter record (schemas/DeadLetter.avsc): what could not be used, where it came from, and why.

Every consumer that refuses an input (the bus for every service, the feature worker for its faust
stream) writes this one record, so an operator reads one shape whatever the service.
"""

from __future__ import annotations

from typing import Any

from services.common.events import header

MAX_ERROR_CHARS = 10_000


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
    """A DeadLetter record for the input at ``topic[partition]@offset`` (logical topic name, no prefix)."""
    return {
        **header(source),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key.encode() if isinstance(key, str) else key,
        "error_type": error_type,
        "error": error[:MAX_ERROR_CHARS],
        "consumer_group": consumer_group,
        "raw": raw or b"",
    }

"""Helpers for the header every event carries (event_id, ts, source)."""

from __future__ import annotations

import time
import uuid
from typing import Any


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds, the unit of every ``ts`` field."""
    return time.time_ns() // 1_000_000


def new_id() -> str:
    return str(uuid.uuid4())


def header(source: str, event_id: str | None = None, ts: int | None = None) -> dict[str, Any]:
    """The common header fields; pass ``event_id`` to derive an output from an input idempotently."""
    return {"event_id": event_id or new_id(), "ts": now_ms() if ts is None else ts, "source": source}


def derived_id(namespace: str, parent_event_id: str) -> str:
    """A stable event id for an output derived from an input, so a replay yields the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}:{parent_event_id}"))

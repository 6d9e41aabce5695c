"""What flows through the bus: a decoded input event, an output to produce, and the handlers between them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Out:
    """An event to produce: logical topic name, record, partition key."""

    topic: str
    value: dict[str, Any]
    key: str | None = None


@dataclass(slots=True)
class Event:
    """A decoded input event."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: dict[str, Any]
    raw: bytes
    timestamp_ms: int


Handler = Callable[[Event], Iterable[Out]]
BatchHandler = Callable[[list[Event]], Iterable[Out]]

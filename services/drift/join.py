"""Pending predictions waiting for their delayed label, keyed by interaction_id.

Labels arrive minutes or days after the prediction, and either may arrive first (different topics,
different partitions), so both sides are parked with a TTL until the other shows up. The store is
an interface: Redis in the service (survives restarts), memory in tests and benchmarks.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol


class PendingStore(Protocol):
    def put_prediction(self, interaction_id: str, record: dict[str, Any]) -> None: ...
    def take_prediction(self, interaction_id: str) -> dict[str, Any] | None: ...
    def put_label(self, interaction_id: str, applied: bool) -> None: ...
    def take_label(self, interaction_id: str) -> bool | None: ...


class MemoryPendingStore:
    """In-process store with a TTL and a size bound (oldest entries go first)."""

    def __init__(self, ttl_s: float = 86_400, max_items: int = 1_000_000, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.max_items = max_items
        self.clock = clock
        self._preds: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._labels: OrderedDict[str, tuple[float, bool]] = OrderedDict()

    def _put(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = (self.clock() + self.ttl_s, value)
        table.move_to_end(key)
        while len(table) > self.max_items:
            table.popitem(last=False)

    def _take(self, table: OrderedDict[str, Any], key: str) -> Any:
        item = table.pop(key, None)
        if item is None or item[0] < self.clock():
            return None
        return item[1]

    def put_prediction(self, interaction_id: str, record: dict[str, Any]) -> None:
        self._put(self._preds, interaction_id, record)

    def take_prediction(self, interaction_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._take(self._preds, interaction_id)
        return result

    def put_label(self, interaction_id: str, applied: bool) -> None:
        self._put(self._labels, interaction_id, applied)

    def take_label(self, interaction_id: str) -> bool | None:
        result: bool | None = self._take(self._labels, interaction_id)
        return result

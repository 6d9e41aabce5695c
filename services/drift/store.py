"""Redis side of the drift service: pending predictions (the label join) and detector checkpoints.

Both live in Redis so a restart loses neither the predictions waiting for labels nor what the
detectors learnt. Redis errors become RetryableError: the event is retried, never dead-lettered.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from services.common.bus import RetryableError


class RedisPendingStore:
    """Predictions and early labels by interaction_id, each with a TTL (SET EX / GETDEL)."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int) -> None:
        self.r = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise RetryableError(f"Redis unavailable for the label join: {exc}") from exc

    def put_prediction(self, interaction_id: str, record: dict[str, Any]) -> None:
        self._call(self.r.set, f"{self.prefix}pred:{interaction_id}", json.dumps(record), ex=self.ttl_s)

    def take_prediction(self, interaction_id: str) -> dict[str, Any] | None:
        raw = self._call(self.r.getdel, f"{self.prefix}pred:{interaction_id}")
        if raw is None:
            return None
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    def put_label(self, interaction_id: str, applied: bool) -> None:
        self._call(self.r.set, f"{self.prefix}label:{interaction_id}", "1" if applied else "0", ex=self.ttl_s)

    def take_label(self, interaction_id: str) -> bool | None:
        raw = self._call(self.r.getdel, f"{self.prefix}label:{interaction_id}")
        return None if raw is None else raw in (b"1", "1")


class RedisCheckpointer:
    """One blob per checkpoint key; the previous one is kept as ``<key>:prev``."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.r = client
        self.key = key

    def save(self, blob: bytes) -> None:
        pipe = self.r.pipeline()
        pipe.copy(self.key, f"{self.key}:prev", replace=True)
        pipe.set(self.key, blob)
        pipe.execute()

    def load(self) -> bytes | None:
        raw = self.r.get(self.key)
        return bytes(raw) if raw is not None else None  # type: ignore[arg-type]

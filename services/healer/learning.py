"""Learning from outcomes: Beta posteriors per (incident class, action) and Thompson sampling.

The learner only reorders alternatives the policy already allows on one rung (``any_of``), so
what it learns can change the order of safe actions, never add an action the policy forbids.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from services.healer.policy import Step

PRIOR_ALPHA = 1.0
PRIOR_BETA = 1.0


class StatsSource(Protocol):
    def get(self, incident_class: str, action: str) -> tuple[int, int]: ...


def thompson_order(incident_class: str, steps: Sequence[Step], stats: StatsSource, rng: random.Random) -> list[Step]:
    """Order steps by one draw from each Beta(1 + successes, 1 + failures), best first."""
    if len(steps) < 2:
        return list(steps)
    scored = []
    for i, step in enumerate(steps):
        s, f = stats.get(incident_class, step.action)
        scored.append((rng.betavariate(PRIOR_ALPHA + s, PRIOR_BETA + f), -i, step))
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [t[2] for t in scored]


def posterior_mean(successes: int, failures: int) -> float:
    return (PRIOR_ALPHA + successes) / (PRIOR_ALPHA + PRIOR_BETA + successes + failures)


class MemoryStats:
    """In-process statistics (unit tests, dry runs)."""

    def __init__(self) -> None:
        self.table: dict[tuple[str, str], tuple[int, int]] = {}

    def get(self, incident_class: str, action: str) -> tuple[int, int]:
        return self.table.get((incident_class, action), (0, 0))

    def record(self, incident_class: str, action: str, success: bool) -> None:
        s, f = self.get(incident_class, action)
        self.table[(incident_class, action)] = (s + 1, f) if success else (s, f + 1)


class RedisStats:
    """Shared statistics: one Redis hash per (class, action) with fields s and f."""

    def __init__(self, client: object, prefix: str) -> None:
        self.r = client
        self.prefix = prefix

    def _key(self, incident_class: str, action: str) -> str:
        return f"{self.prefix}beta:{incident_class}:{action}"

    def get(self, incident_class: str, action: str) -> tuple[int, int]:
        raw = self.r.hgetall(self._key(incident_class, action))  # type: ignore[attr-defined]
        return int(raw.get(b"s", raw.get("s", 0)) or 0), int(raw.get(b"f", raw.get("f", 0)) or 0)

    def record(self, incident_class: str, action: str, success: bool) -> None:
        self.r.hincrby(self._key(incident_class, action), "s" if success else "f", 1)  # type: ignore[attr-defined]

"""Readiness of the process's consumers: a service is ready only when each of its consumers holds partitions."""

from __future__ import annotations

import weakref
from typing import Protocol


class ReportsReadiness(Protocol):
    """What readiness needs of a consumer (a StreamProcessor)."""

    group_id: str

    def readiness(self) -> tuple[bool, str]: ...


_PROCESSORS: weakref.WeakSet[ReportsReadiness] = weakref.WeakSet()


def register(consumer: ReportsReadiness) -> None:
    """Count ``consumer`` in :func:`consumers_readiness` for as long as it lives."""
    _PROCESSORS.add(consumer)


def describe_assignment(assignment: frozenset[tuple[str, int]]) -> str:
    """``topic[0, 2], other[1]``: the partitions held, per topic."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in assignment:
        by_topic.setdefault(topic, []).append(partition)
    return ", ".join(f"{t}{sorted(ps)}" for t, ps in sorted(by_topic.items()))


def consumers_readiness() -> tuple[bool, str]:
    """(ready, reason) over every StreamProcessor of this process: a service is ready only when all hold partitions.

    A service wires its consumers itself; this lets the shared runner's /ready cover each of them
    (e.g. a command consumer next to the main one) without every service listing them.
    """
    processors = sorted(_PROCESSORS, key=lambda p: p.group_id)
    if not processors:
        return True, "no Kafka consumer in this process"
    states = [p.readiness() for p in processors]
    waiting = [reason for ok, reason in states if not ok]
    if waiting:
        return False, "; ".join(waiting)
    return True, "; ".join(reason for _, reason in states)

"""Readiness of the faust worker: it reads only once its agents run, it holds partitions of every topic
it consumes (input, repartition, changelogs) and its tables are recovered.

The state is read on the worker's event loop (a faust timer) and kept as one tuple, so the HTTP
thread answering /ready never touches faust objects while the loop changes them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

STARTING = "faust worker starting: no partition assignment and table recovery yet"


@dataclass(frozen=True)
class WorkerState:
    """What readiness depends on, as seen on the event loop at one moment."""

    rebalancing: bool
    in_recovery: bool
    agents: Mapping[str, bool]  # agent name -> running
    assigned: Mapping[str, int]  # topic -> partitions held


def assess(state: WorkerState, required: Sequence[str]) -> tuple[bool, str]:
    """(ready, reason): the first thing that keeps the worker from processing, or what it holds."""
    if state.rebalancing:
        return False, "faust worker rebalancing"
    if state.in_recovery:
        return False, "faust worker recovering its tables from the changelogs"
    stopped = sorted(name for name, running in state.agents.items() if not running)
    if stopped:
        return False, f"faust agents not running: {', '.join(stopped)}"
    missing = [topic for topic in required if not state.assigned.get(topic)]
    if missing:
        return False, f"faust worker holds no partition of {', '.join(missing)}"
    held = ", ".join(f"{topic}: {state.assigned[topic]}" for topic in required)
    return True, f"faust worker holds partitions of {held}"


def partitions_by_topic(assignment: Iterable[Any]) -> dict[str, int]:
    """Topic -> number of partitions in a faust assignment (a set of TP)."""
    return dict(Counter(tp.topic for tp in assignment))


class WorkerReadiness:
    """The worker's latest (ready, reason); :meth:`refresh` runs on the event loop, calling reads it anywhere."""

    def __init__(self, app: Any, agents: Sequence[Any], required: Sequence[str]) -> None:
        self.app = app
        self.agents = list(agents)
        self.required = list(required)
        self._result: tuple[bool, str] = (False, STARTING)

    def snapshot(self) -> WorkerState:
        """The faust state readiness depends on; call it on the worker's event loop."""
        return WorkerState(
            rebalancing=bool(self.app.rebalancing),
            in_recovery=bool(self.app.in_recovery),
            agents={
                agent.name: bool(agent.started and not agent.crashed and not agent.should_stop) for agent in self.agents
            },
            assigned=partitions_by_topic(self.app.consumer.assignment()),
        )

    def refresh(self) -> None:
        """Re-assess on the event loop; an error here must not crash the faust timer (and the worker) with it."""
        try:
            self._result = assess(self.snapshot(), self.required)
        except Exception as exc:
            self._result = (False, f"faust worker state unreadable: {type(exc).__name__}: {exc}")

    def mark_not_ready(self, reason: str) -> None:
        """At once, without waiting for the next refresh (e.g. partitions revoked, worker stopping)."""
        self._result = (False, reason)

    def __call__(self) -> tuple[bool, str]:
        return self._result

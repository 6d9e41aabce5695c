"""What the demo watches: incidents, healer actions and model events of one run, read live from Kafka.

Each record keeps its arrival time (``_seen``, monotonic seconds) so the scorecard can attribute
it to the scenario window it arrived in. Incidents and actions are printed as they come.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kit.kafka import follow
from loadgen.stack import Stack

TOPICS = ("incidents", "actions", "model.events")


@dataclass
class Feed:
    stack: Stack
    started: float = field(default_factory=time.monotonic)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _ids: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        """Consume until ``stop`` (run it on a thread)."""
        follow(self.stack.settings, TOPICS, self._add, self.stop, group="demo-feed", max_messages=100, poll_s=0.5)

    def _add(self, topic: str, record: dict[str, Any], seen: float) -> None:
        record["_seen"] = seen
        with self._lock:
            if topic == "incidents":
                self.incidents.append(record)
                if record["incident_id"] not in self._ids:  # updates of an open incident repeat its id
                    self._ids.add(record["incident_id"])
                    self._print_incident(record)
            elif topic == "actions":
                self.actions.append(record)
                if record["action"] != "none":
                    self._print_action(record)
            else:
                self.models.append(record)
                self.say(f"MODEL    v{record['version']} {record['status']}: {record.get('reason') or ''}"[:200])

    # -- reading -------------------------------------------------------------------------------
    def snapshot(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with self._lock:
            return list(self.incidents), list(self.actions)

    def new_incidents(self, since: float) -> list[dict[str, Any]]:
        """Incidents first seen at or after ``since`` (updates of older ones left out)."""
        with self._lock:
            first: dict[str, dict[str, Any]] = {}
            for inc in self.incidents:
                first.setdefault(inc["incident_id"], inc)
        return [i for i in first.values() if i["_seen"] >= since]

    def actions_since(self, since: float) -> list[dict[str, Any]]:
        with self._lock:
            return [a for a in self.actions if a["_seen"] >= since]

    def last_activity(self) -> float:
        """Arrival of the newest new incident or healer action (0 when none yet).

        Audit records of decisions without an action (``none``: an update of an open incident, a
        duplicate) say the problem persists, which the open incident already says: they do not count.
        """
        news = [i["_seen"] for i in self.new_incidents(0.0)]
        with self._lock:
            acts = [a["_seen"] for a in self.actions if a["action"] != "none"]
        return max([*news, *acts], default=0.0)

    def in_progress(self, within_s: float = 420.0) -> list[dict[str, Any]]:
        """Healer actions executed and not verified yet (a restart coming up, a retrain training).

        Only recent ones: a verification is bounded (a retrain's by about five minutes), so an older
        action without an outcome lost it and must not hold anyone up.
        """
        since = time.monotonic() - within_s
        with self._lock:
            last: dict[str, dict[str, Any]] = {}
            for act in self.actions:
                last[act["action_id"]] = act
        return [a for a in last.values() if a["status"] == "executed" and a["_seen"] >= since]

    def live_models(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.models if m["status"] == "live" and m["_seen"] >= since]

    # -- printing ------------------------------------------------------------------------------
    def clock(self) -> str:
        return f"[{time.monotonic() - self.started:6.1f}s]"

    def say(self, text: str) -> None:
        print(f"{self.clock()} {text}", flush=True)

    def _print_incident(self, inc: dict[str, Any]) -> None:
        target = f" ({inc['target']})" if inc.get("target") else ""
        cause = f" root cause {inc['root_cause']}," if inc.get("root_cause") else ""
        self.say(f"INCIDENT {inc['type']} in {inc['service']}{target},{cause} x{inc['count']}: {inc['summary']}")
        if inc.get("explanation"):
            print(f"{'':10} {inc['explanation'][:400]}", flush=True)

    def _print_action(self, act: dict[str, Any]) -> None:
        times = ""
        if act.get("time_to_recover_ms") is not None:
            ttd = (act.get("time_to_detect_ms") or 0) / 1000
            times = f" (detected in {ttd:.1f} s, recovered in {act['time_to_recover_ms'] / 1000:.1f} s)"
        reason = f": {act['reason'][:160]}" if act.get("reason") else ""
        self.say(f"ACTION   {act['action']} -> {act['target']} [{act['status']}]{times}{reason}")

"""Bursts of one (service, root cause) within a window become one incident (pure logic, no I/O).

While its records keep coming the incident stays open, and is updated (same incident id, growing
count) at most every ``update_interval_s``: a persisting problem is never swallowed, and its reports
stopping is how the healer sees it end. It closes after ``cooldown_s`` without a record; the next
burst opens a new one. Time is the records' own timestamps, not the wall clock, so a replay of the
same records yields the same incidents with the same ids (derived from the records).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from services.common.events import derived_id
from services.common.incidents import fingerprint, incident_record
from services.logclassifier.explain import explain

SEVERITY = {
    "out_of_memory": "critical",
    "disk_full": "critical",
    "model_error": "critical",
    "dependency_unavailable": "error",
    "timeout": "error",
    "schema_mismatch": "error",
    "data_quality": "error",
    "permission_denied": "error",
    "config_error": "error",
    "unknown": "warning",
}


@dataclass
class Classified:
    """One classified log record, the aggregator's input."""

    event_id: str
    ts_ms: int
    service: str
    root_cause: str
    confidence: float
    template: str
    text: str


@dataclass
class _Burst:
    times: deque[int] = field(default_factory=deque)
    templates: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # template -> one raw line
    open_id: str | None = None  # the open incident's id
    opened_ms: int = 0
    last_record_ms: int = 0
    last_sent_ms: int = 0
    total: int = 0  # records of the open incident
    since_sent: int = 0  # records since its last report


class BurstAggregator:
    """Counts classified records per (service, root cause) in a sliding window."""

    def __init__(
        self,
        window_s: float = 60.0,
        min_count: int = 5,
        cooldown_s: float = 300.0,
        incident_on_unknown: bool = True,
        source: str = "logclassifier",
        min_count_by_cause: dict[str, int] | None = None,
        update_interval_s: float = 10.0,
    ) -> None:
        self.window_ms = int(window_s * 1000)
        self.min_count = min_count
        self.min_count_by_cause = dict(min_count_by_cause or {})
        self.cooldown_ms = int(cooldown_s * 1000)
        self.update_interval_ms = int(update_interval_s * 1000)
        self.incident_on_unknown = incident_on_unknown
        self.source = source
        self._bursts: dict[tuple[str, str], _Burst] = {}

    def add(self, rec: Classified) -> dict[str, Any] | None:
        """Add one record; returns an Incident record when it opens a burst's incident or updates it."""
        if rec.root_cause == "benign" or (rec.root_cause == "unknown" and not self.incident_on_unknown):
            return None
        burst = self._bursts.setdefault((rec.service, rec.root_cause), _Burst())
        if burst.open_id is not None and rec.ts_ms - burst.last_record_ms >= self.cooldown_ms:
            self._close(burst)  # no record for the whole cooldown: that incident is over
        burst.last_record_ms = max(burst.last_record_ms, rec.ts_ms)
        burst.times.append(rec.ts_ms)
        while burst.times and burst.times[0] < rec.ts_ms - self.window_ms:
            burst.times.popleft()
        burst.templates[rec.template] += 1
        burst.examples.setdefault(rec.template, rec.text)
        if burst.open_id is not None:
            burst.total += 1
            burst.since_sent += 1
            if rec.ts_ms - burst.last_sent_ms < self.update_interval_ms:
                return None
            return self._report(rec, burst)
        if len(burst.times) < self.min_count_by_cause.get(rec.root_cause, self.min_count):
            return None
        burst.open_id = derived_id("logclassifier.incident_id", rec.event_id)
        burst.opened_ms = burst.times[0]
        burst.total = burst.since_sent = len(burst.times)
        return self._report(rec, burst)

    @staticmethod
    def _close(burst: _Burst) -> None:
        burst.open_id = None
        burst.times.clear()
        burst.templates.clear()
        burst.examples.clear()
        burst.total = burst.since_sent = 0

    def _report(self, rec: Classified, burst: _Burst) -> dict[str, Any]:
        incident = self._incident(rec, burst)
        burst.last_sent_ms = rec.ts_ms
        burst.since_sent = 0
        return incident

    def _incident(self, rec: Classified, burst: _Burst) -> dict[str, Any]:
        assert burst.open_id is not None
        count, first, last = burst.total, burst.opened_ms, rec.ts_ms
        top = burst.templates.most_common(3)
        examples = [burst.examples[t] for t, _ in top]
        summary, explanation, dep = explain(rec.service, rec.root_cause, count, first, last, examples, top[0][0])
        incident_type = "model_error" if rec.root_cause == "model_error" else "log_error"
        evidence = {f"template_{i + 1}": f"{n}x {t}"[:1000] for i, (t, n) in enumerate(top)}
        evidence["example"] = examples[0][:1000]
        evidence["window_s"] = str(self.window_ms // 1000)
        evidence["confidence"] = f"{rec.confidence:.2f}"
        evidence["state"] = "open" if count == burst.since_sent else "persisting"
        evidence["records_since_last_report"] = str(burst.since_sent)
        if dep:
            evidence["dependency"] = dep
        event_id = derived_id("logclassifier.incident", rec.event_id)
        named_dependency = rec.root_cause in ("dependency_unavailable", "timeout") and dep not in (None, "dns")
        return incident_record(
            self.source,
            event_id=event_id,
            incident_id=burst.open_id,
            fingerprint=fingerprint(incident_type, rec.service, rec.root_cause),
            type=incident_type,
            root_cause=rec.root_cause,
            service=rec.service,
            target=dep if named_dependency else rec.service,
            severity=SEVERITY.get(rec.root_cause, "warning"),
            summary=summary,
            explanation=explanation,
            count=count,
            first_seen=first,
            last_seen=last,
            evidence=evidence,
        )

    def forget_older_than(self, ts_ms: int) -> None:
        """Drop bursts idle for longer than both the window and the cooldown (bounded memory)."""
        idle_ms = max(self.window_ms, self.cooldown_ms)
        for key in [k for k, b in self._bursts.items() if b.last_record_ms < ts_ms - idle_ms]:
            del self._bursts[key]

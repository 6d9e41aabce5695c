"""Bursts of one (service, root cause) within a window become one incident (pure logic, no I/O).

Time is the records' own timestamps, not the wall clock, so a replay of the same records yields the
same incidents with the same ids (event_id derived from the record that completed the burst).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from services.common.events import derived_id, header
from services.logclassifier.explain import explain

SEVERITY = {
    "out_of_memory": "critical", "disk_full": "critical", "model_error": "critical",
    "dependency_unavailable": "error", "timeout": "error", "schema_mismatch": "error",
    "data_quality": "error", "permission_denied": "error", "config_error": "error", "unknown": "warning",
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
    last_incident_ms: int | None = None
    suppressed: int = 0


class BurstAggregator:
    """Counts classified records per (service, root cause) in a sliding window."""

    def __init__(
        self, window_s: float = 60.0, min_count: int = 5, cooldown_s: float = 300.0,
        incident_on_unknown: bool = True, source: str = "logclassifier",
        min_count_by_cause: dict[str, int] | None = None,
    ) -> None:
        self.window_ms = int(window_s * 1000)
        self.min_count = min_count
        self.min_count_by_cause = dict(min_count_by_cause or {})
        self.cooldown_ms = int(cooldown_s * 1000)
        self.incident_on_unknown = incident_on_unknown
        self.source = source
        self._bursts: dict[tuple[str, str], _Burst] = {}

    def add(self, rec: Classified) -> dict[str, Any] | None:
        """Add one record; returns an Incident record when it completes a burst outside the cooldown."""
        if rec.root_cause == "benign" or (rec.root_cause == "unknown" and not self.incident_on_unknown):
            return None
        burst = self._bursts.setdefault((rec.service, rec.root_cause), _Burst())
        burst.times.append(rec.ts_ms)
        while burst.times and burst.times[0] < rec.ts_ms - self.window_ms:
            burst.times.popleft()
        burst.templates[rec.template] += 1
        burst.examples.setdefault(rec.template, rec.text)
        if len(burst.times) < self.min_count_by_cause.get(rec.root_cause, self.min_count):
            return None
        if burst.last_incident_ms is not None and rec.ts_ms - burst.last_incident_ms < self.cooldown_ms:
            burst.suppressed += 1
            return None
        incident = self._incident(rec, burst)
        burst.last_incident_ms = rec.ts_ms
        burst.times.clear()
        burst.templates.clear()
        burst.examples.clear()
        burst.suppressed = 0
        return incident

    def _incident(self, rec: Classified, burst: _Burst) -> dict[str, Any]:
        count = len(burst.times)
        first, last = burst.times[0], burst.times[-1]
        top = burst.templates.most_common(3)
        examples = [burst.examples[t] for t, _ in top]
        summary, explanation, dep = explain(
            rec.service, rec.root_cause, count, first, last, examples, top[0][0]
        )
        fingerprint = f"log:{rec.service}:{rec.root_cause}"
        evidence = {f"template_{i + 1}": f"{n}x {t}"[:1000] for i, (t, n) in enumerate(top)}
        evidence["example"] = examples[0][:1000]
        evidence["window_s"] = str(self.window_ms // 1000)
        evidence["confidence"] = f"{rec.confidence:.2f}"
        if burst.suppressed:
            evidence["during_cooldown"] = str(burst.suppressed)
        if dep:
            evidence["dependency"] = dep
        event_id = derived_id("logclassifier.incident", rec.event_id)
        return {
            **header(self.source, event_id=event_id),
            "incident_id": derived_id("logclassifier.incident_id", rec.event_id),
            "fingerprint": fingerprint,
            "type": "model_error" if rec.root_cause == "model_error" else "log_error",
            "root_cause": rec.root_cause,
            "service": rec.service,
            "target": dep if rec.root_cause in ("dependency_unavailable", "timeout") and dep not in (None, "dns")
            else rec.service,
            "severity": SEVERITY.get(rec.root_cause, "warning"),
            "summary": summary,
            "explanation": explanation,
            "count": count,
            "first_seen": first,
            "last_seen": last,
            "evidence": evidence,
        }

    def forget_older_than(self, ts_ms: int) -> None:
        """Drop idle bursts (bounded memory with many services)."""
        for key in [k for k, b in self._bursts.items()
                    if (not b.times or b.times[-1] < ts_ms - self.window_ms)
                    and (b.last_incident_ms is None or b.last_incident_ms < ts_ms - self.cooldown_ms)]:
            del self._bursts[key]

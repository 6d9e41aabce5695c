"""What every detector returns: a confirmed signal with the evidence an operator needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass
class Signal:
    """A confirmed change. ``evidence`` values are strings because Incident.evidence is map<string>."""

    kind: str  # data_drift, concept_drift, skew, data_quality
    feature: str
    detector: str
    summary: str
    evidence: dict[str, str] = field(default_factory=dict)
    severity: str = "warning"
    # raised: a new problem; persisting: the same problem is still there; recovered: it is gone
    # (the monitor then closes the open incident, so the next change opens a new one).
    phase: Literal["raised", "persisting", "recovered"] = "raised"


class Confirming(Protocol):
    """A detector whose raw alarms become a Signal only once the change is confirmed."""

    candidate: tuple[str, int] | None
    monitored: int
    changes: int

    @property
    def patience(self) -> int: ...

    def _confirmed(self) -> bool: ...
    def _signal(self, detector: str, raised_at: int) -> Signal: ...
    def _settle(self, signal: Signal) -> Signal | None: ...


def confirm(det: Confirming, fired: str | None) -> Signal | None:
    """Keep the first raw alarm as a candidate; signal once it is confirmed (the detector then settles:
    re-baselines, or keeps its reference), or forget it after ``confirm_patience`` events if the change
    did not persist (a spurious cut or a negligible shift)."""
    if fired and det.candidate is None:
        det.candidate = (fired, det.monitored)
    if det.candidate is None:
        return None
    detector, raised_at = det.candidate
    if det._confirmed():
        signal = det._signal(detector, raised_at)
        det.changes += 1
        return det._settle(signal)
    if det.monitored - raised_at >= det.patience:
        det.candidate = None
    return None


def fmt(x: float | None) -> str:
    """Numbers in evidence: short, stable, readable."""
    if x is None:
        return "n/a"
    return f"{x:.4g}"

"""What every detector returns: a confirmed signal with the evidence an operator needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Signal:
    """A confirmed change. ``evidence`` values are strings because Incident.evidence is map<string>."""

    kind: str  # data_drift, concept_drift, skew, data_quality
    feature: str
    detector: str
    summary: str
    evidence: dict[str, str] = field(default_factory=dict)
    severity: str = "warning"


class Confirming(Protocol):
    """A detector whose raw alarms become a Signal only once the change is confirmed."""

    candidate: tuple[str, int] | None
    monitored: int
    changes: int
    cfg: Any  # has confirm_patience

    def _confirmed(self) -> bool: ...
    def _signal(self, detector: str, raised_at: int) -> Signal: ...
    def reset(self) -> None: ...


def confirm(det: Confirming, fired: str | None) -> Signal | None:
    """Keep the first raw alarm as a candidate; signal (and re-baseline) once it is confirmed, or forget it
    after ``confirm_patience`` events if the change did not persist (a spurious cut or a negligible shift)."""
    if fired and det.candidate is None:
        det.candidate = (fired, det.monitored)
    if det.candidate is None:
        return None
    detector, raised_at = det.candidate
    if det._confirmed():
        signal = det._signal(detector, raised_at)
        det.changes += 1
        det.reset()
        return signal
    if det.monitored - raised_at >= det.cfg.confirm_patience:
        det.candidate = None
    return None


def fmt(x: float | None) -> str:
    """Numbers in evidence: short, stable, readable."""
    if x is None:
        return "n/a"
    return f"{x:.4g}"

"""What every detector returns: a confirmed signal with the evidence an operator needs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Signal:
    """A confirmed change. ``evidence`` values are strings because Incident.evidence is map<string>."""

    kind: str  # data_drift, concept_drift, skew, data_quality
    feature: str
    detector: str
    summary: str
    evidence: dict[str, str] = field(default_factory=dict)
    severity: str = "warning"


def fmt(x: float | None) -> str:
    """Numbers in evidence: short, stable, readable."""
    if x is None:
        return "n/a"
    return f"{x:.4g}"

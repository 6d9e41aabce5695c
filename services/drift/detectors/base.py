"""The detector contract: what a plugin is built from, what it is fed, and the signal it returns.

Every detector is built the same way, ``Detector(feature, cfg, context)``, through
:func:`services.drift.detectors.registry.create`, so the monitor needs no knowledge of one detector's
constructor, and a new detector is one module and one registry line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

from services.drift.config import SeasonThresholds


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


class ProfileError(ValueError):
    """A reference profile entry that cannot be used (the message says why)."""


@dataclass(frozen=True)
class DetectorContext:
    """What some detectors need beyond their thresholds; each takes what it uses and ignores the rest.

    ``season``: the daily cycle the references are kept per phase of. ``profile``: the live model's
    reference profile entry of the feature (its training bins, mean, spread and null rate), which skew is
    judged against and which sets the null rate data quality allows; None before a model has one.
    """

    season: SeasonThresholds = field(default_factory=SeasonThresholds)
    profile: Mapping[str, Any] | None = None


V = TypeVar("V")  # what the detector is fed: a value, a category, an error, a quality verdict
C = TypeVar("C", bound=BaseModel)  # its thresholds


class Detector(ABC, Generic[V, C]):
    """A drift detector plugin.

    ``name`` is its registry key, ``config`` the thresholds model it is built with (its defaults are the
    detector's defaults). :meth:`update` takes one observation at event time ``ts_ms`` and returns a
    :class:`Signal` when a change is confirmed (or persists, or is over), else None: never an exception
    for a value of the right type.
    """

    name: ClassVar[str]
    config: ClassVar[type[BaseModel]]

    def __init__(self, feature: str, cfg: C, context: DetectorContext | None = None) -> None:
        self.feature = feature
        self.cfg = cfg

    @abstractmethod
    def update(self, value: V, /, ts_ms: int = 0) -> Signal | None:
        """Feed one observation; the signal it confirms, if any."""


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

"""Detector registry: the drift service builds every detector by name, so a new one is one module + one line."""

from __future__ import annotations

from typing import Any, Literal, overload

from pydantic import BaseModel

from services.drift.config import (
    CategoricalThresholds,
    ErrorThresholds,
    NumericThresholds,
    QualityThresholds,
    SkewThresholds,
)
from services.drift.detectors.base import Detector, DetectorContext
from services.drift.detectors.categorical import CategoricalDriftDetector
from services.drift.detectors.error_rate import ErrorRateDetector
from services.drift.detectors.numeric import NumericDriftDetector
from services.drift.detectors.quality import QualityDetector
from services.drift.detectors.skew import SkewDetector

REGISTRY: dict[str, type[Detector[Any, Any]]] = {
    cls.name: cls
    for cls in (NumericDriftDetector, CategoricalDriftDetector, ErrorRateDetector, SkewDetector, QualityDetector)
}


@overload
def create(
    kind: Literal["numeric"], feature: str, cfg: NumericThresholds, context: DetectorContext | None = None
) -> NumericDriftDetector: ...
@overload
def create(
    kind: Literal["categorical"], feature: str, cfg: CategoricalThresholds, context: DetectorContext | None = None
) -> CategoricalDriftDetector: ...
@overload
def create(
    kind: Literal["error_rate"], feature: str, cfg: ErrorThresholds, context: DetectorContext | None = None
) -> ErrorRateDetector: ...
@overload
def create(
    kind: Literal["skew"], feature: str, cfg: SkewThresholds, context: DetectorContext | None = None
) -> SkewDetector: ...
@overload
def create(
    kind: Literal["quality"], feature: str, cfg: QualityThresholds, context: DetectorContext | None = None
) -> QualityDetector: ...
@overload
def create(kind: str, feature: str, cfg: BaseModel, context: DetectorContext | None = None) -> Detector[Any, Any]: ...


def create(kind: str, feature: str, cfg: BaseModel, context: DetectorContext | None = None) -> Detector[Any, Any]:
    """Build the ``kind`` detector of ``feature``; an unknown kind or thresholds of another detector raise."""
    try:
        cls = REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown detector {kind!r}; known: {', '.join(sorted(REGISTRY))}") from None
    if not isinstance(cfg, cls.config):
        raise TypeError(f"detector {kind!r} takes {cls.config.__name__}, got {type(cfg).__name__}")
    return cls(feature, cfg, context)

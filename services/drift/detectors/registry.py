"""Detector registry: the drift service builds detectors by name, so a new one is one module + one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.drift.detectors.categorical import CategoricalDriftDetector
from services.drift.detectors.error_rate import ErrorRateDetector
from services.drift.detectors.numeric import NumericDriftDetector
from services.drift.detectors.quality import QualityDetector
from services.drift.detectors.skew import SkewDetector

REGISTRY: dict[str, Callable[..., Any]] = {
    "numeric": NumericDriftDetector,
    "categorical": CategoricalDriftDetector,
    "error_rate": ErrorRateDetector,
    "skew": SkewDetector,
    "quality": QualityDetector,
}


def create(name: str, *args: Any, **kwargs: Any) -> Any:
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    return factory(*args, **kwargs)

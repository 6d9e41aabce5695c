"""Drift detector plugins: one module per detector, built through :mod:`.registry` (contract in :mod:`.base`)."""

from services.drift.detectors.base import Detector, DetectorContext, ProfileError, Signal
from services.drift.detectors.registry import REGISTRY, create

__all__ = ["REGISTRY", "Detector", "DetectorContext", "ProfileError", "Signal", "create"]

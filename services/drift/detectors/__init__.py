"""Drift detector plugins: one module per detector, built through :mod:`.registry`."""

from services.drift.detectors.base import Signal
from services.drift.detectors.registry import REGISTRY, create

__all__ = ["REGISTRY", "Signal", "create"]

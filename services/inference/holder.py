"""The model being served, behind one reference that is swapped atomically.

A request reads :attr:`ModelHolder.current` once and scores with that object to the end, so it
never mixes two models; a new model is loaded fully (read, verified, parsed) before the swap,
and the old one stays valid for the requests still holding it. Reading an attribute is atomic
in CPython, so readers take no lock; writers serialise on one so versions never go backwards.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.common.model.bundle import ModelBundle


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: int
    bundle: ModelBundle
    metrics: dict[str, Any] = field(default_factory=dict)
    artifact_uri: str = ""
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "metrics": self.metrics,
            "loaded_at": self.loaded_at,
            "artifact_uri": self.artifact_uri,
            "features": self.bundle.spec.to_json(),
        }


class ModelHolder:
    def __init__(self) -> None:
        self._current: LoadedModel | None = None
        self._write = threading.Lock()

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    @property
    def loaded(self) -> bool:
        return self._current is not None

    def swap(self, model: LoadedModel) -> LoadedModel | None:
        """Serve ``model`` from now on; returns the model it replaces."""
        with self._write:
            old, self._current = self._current, model
            return old

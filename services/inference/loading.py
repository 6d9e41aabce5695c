"""Loading the live model from the registry and artifact store into the holder."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from services.common.model import artifacts, registry
from services.inference import metrics
from services.inference.holder import LoadedModel, ModelHolder

log = logging.getLogger(__name__)


class ModelLoader:
    """Follows the registry's live pointer for one model name."""

    def __init__(self, model_name: str, holder: ModelHolder, connect: Callable[[], psycopg.Connection]) -> None:
        self.model_name = model_name
        self.holder = holder
        self.connect = connect
        self._lock = threading.Lock()

    def refresh(self, force: bool = False) -> LoadedModel | None:
        """Load the live version if it differs from the one served (or always with ``force``).

        Returns the newly served model, or ``None`` when nothing changed. Raises
        psycopg.Error when the registry is unreachable and ArtifactError when the artifact is bad;
        the model being served stays in place either way.
        """
        with self._lock:
            with self.connect() as conn:
                live = registry.live_version(conn, self.model_name)
            if live is None:
                log.info("no live version of %s in the registry yet", self.model_name)
                return None
            current = self.holder.current
            if not force and current is not None and current.version == live.version:
                return None
            try:
                bundle = artifacts.load_bundle(live.artifact_uri)
            except artifacts.ArtifactError:
                metrics.MODEL_LOAD_FAILURES.labels(self.model_name).inc()
                raise
            model = LoadedModel(
                name=self.model_name,
                version=live.version,
                bundle=bundle,
                metrics=live.metrics,
                artifact_uri=live.artifact_uri,
            )
            old = self.holder.swap(model)
            metrics.MODEL_SWAPS.labels(self.model_name).inc()
            metrics.MODEL_VERSION.labels(self.model_name).set(live.version)
            log.info(
                "serving %s v%d (was %s)",
                self.model_name,
                live.version,
                f"v{old.version}" if old else "nothing",
                extra={"model_version": live.version},
            )
            return model

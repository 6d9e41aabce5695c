"""Drain3 template mining with throttled, restart-proof persistence (file or Redis)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import urlparse

from drain3 import TemplateMiner
from drain3.file_persistence import FilePersistence
from drain3.persistence_handler import PersistenceHandler
from drain3.redis_persistence import RedisPersistence
from drain3.template_miner_config import TemplateMinerConfig

from services.logclassifier.masking import drain_masking

log = logging.getLogger(__name__)


class _ThrottledMiner(TemplateMiner):
    """A TemplateMiner that snapshots at most every ``interval_s`` instead of on every new template.

    Why: Drain3 serializes its whole tree on each new cluster, which makes a stream of new templates
    quadratic. A crash loses at most ``interval_s`` of template state; templates are re-mined anyway.
    """

    interval_s: float = 30.0

    def get_snapshot_reason(self, change_type: str, cluster_id: int) -> str | None:
        if change_type != "none" and time.time() - self.last_save_time >= self.interval_s:
            return f"{change_type} ({cluster_id})"
        return None


def redis_persistence(redis_url: str, password: str | None, key: str) -> RedisPersistence:
    """drain3's Redis persistence at ``redis_url``; ``password`` (the setting) wins over one in the URL."""
    u = urlparse(redis_url)
    db = int((u.path or "/0").lstrip("/") or 0)
    return RedisPersistence(
        u.hostname or "127.0.0.1", u.port or 6379, db, password or u.password, u.scheme == "rediss", key
    )


class TemplateStore:
    """Mines templates from masked lines; ``add`` returns (masked text, template, cluster id)."""

    def __init__(
        self,
        persistence: PersistenceHandler | None = None,
        sim_th: float = 0.5,
        max_clusters: int = 10_000,
        snapshot_interval_s: float = 30.0,
    ) -> None:
        config = TemplateMinerConfig()
        config.masking_instructions = drain_masking()
        config.drain_sim_th = sim_th
        config.drain_max_clusters = max_clusters
        config.parametrize_numeric_tokens = True
        config.snapshot_compress_state = True
        self.persistence = persistence
        self.miner = _ThrottledMiner(persistence, config)
        self.miner.interval_s = snapshot_interval_s
        self.miner.last_save_time = 0.0 if persistence is not None else time.time()

    @classmethod
    def from_settings(
        cls, kind: str, path: Path, redis_url: str, redis_password: str | None, key: str, **kw: float
    ) -> TemplateStore:
        persistence: PersistenceHandler | None = None
        if kind == "file":
            path.parent.mkdir(parents=True, exist_ok=True)
            persistence = FilePersistence(str(path))
        elif kind == "redis":
            persistence = redis_persistence(redis_url, redis_password, key)
        return cls(persistence, **kw)  # type: ignore[arg-type]

    def mask(self, text: str) -> str:
        return str(self.miner.masker.mask(text))

    def add_masked(self, masked: str) -> tuple[str, int]:
        """Add an already masked line (masking once per line keeps the hot path cheap)."""
        cluster, change = self.miner.drain.add_log_message(masked)
        if self.persistence is not None:
            reason = self.miner.get_snapshot_reason(change, cluster.cluster_id)
            if reason:
                self.save(reason)
        return cluster.get_template(), cluster.cluster_id

    def save(self, reason: str = "explicit") -> None:
        if self.persistence is None:
            return
        try:
            self.miner.save_state(reason)
        except Exception as exc:  # a full disk or a Redis outage must not stop classification
            log.warning("cannot save template state: %s: %s", type(exc).__name__, exc)
        self.miner.last_save_time = time.time()

    @property
    def size(self) -> int:
        return len(self.miner.drain.clusters)

"""Drain3 template mining with throttled, restart-proof persistence (file or Redis).

drain3 stores its state with jsonpickle, which can name and call any importable function: a state
another process wrote (Redis is shared) could run code when loaded. So a state is checked before
jsonpickle sees it: only drain3's own classes and an OrderedDict may appear, nothing may be called
but the OrderedDict; anything else is refused, logged, and the miner starts with no templates.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonpickle
from drain3 import TemplateMiner
from drain3.file_persistence import FilePersistence
from drain3.persistence_handler import PersistenceHandler
from drain3.redis_persistence import RedisPersistence
from drain3.template_miner_config import TemplateMinerConfig

from services.logclassifier.masking import drain_masking

log = logging.getLogger(__name__)


ALLOWED_OBJECTS = frozenset(
    {
        "drain3.drain.Drain",
        "drain3.drain.LogCluster",
        "drain3.drain.LogClusterCache",
        "drain3.drain.Node",
        "drain3.simple_profiler.NullProfiler",
    }
)
ALLOWED_TYPES = frozenset({"collections.OrderedDict"})  # the only callable a state may name (py/reduce)
DATA_TAGS = frozenset({"py/object", "py/state", "py/tuple", "py/reduce", "py/type", "py/id", "py/set"})


class UnsafeState(ValueError):
    """A drain3 state that names something other than drain3's own data classes."""


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def check_drain_state(text: bytes | str) -> None:
    """Refuse (UnsafeState) a jsonpickle document that could do more than rebuild drain3's templates."""
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UnsafeState(f"not JSON: {exc}") from None
    for node in _nodes(tree):
        for tag, value in node.items():
            if tag.startswith("json://"):  # a non-string dict key (keys=True): a jsonpickle document itself
                check_drain_state(tag[len("json://") :])
                continue
            if not tag.startswith("py/"):
                continue
            if tag not in DATA_TAGS:
                raise UnsafeState(f"tag {tag} is not allowed in a template state")
            if tag == "py/object" and value not in ALLOWED_OBJECTS:
                raise UnsafeState(f"class {value!r} is not allowed in a template state")
            if tag == "py/type" and value not in ALLOWED_TYPES:
                raise UnsafeState(f"type {value!r} is not allowed in a template state")
            if tag == "py/reduce" and not (
                isinstance(value, list) and value and value[0] == {"py/type": "collections.OrderedDict"}
            ):
                raise UnsafeState("a reduce that does not rebuild an OrderedDict")


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

    def load_state(self) -> None:
        """drain3's load_state, with the state checked before jsonpickle decodes it (read once)."""
        state = self.persistence_handler.load_state()
        if state is None:
            return
        try:
            if self.config.snapshot_compress_state:
                state = zlib.decompress(base64.b64decode(state))
            check_drain_state(state)
        except (UnsafeState, zlib.error, binascii.Error) as exc:
            log.error("template state refused, starting with no templates: %s", exc)
            return
        loaded = jsonpickle.loads(state, keys=True)
        self.drain.id_to_cluster = loaded.id_to_cluster
        self.drain.clusters_counter = loaded.clusters_counter
        self.drain.root_node = loaded.root_node
        log.info("restored %d templates", len(loaded.clusters))


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

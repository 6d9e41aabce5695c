"""The topic catalogue (schemas/topics.yaml) and an idempotent topic bootstrap.

Run ``python -m services.common.topics [--prefix P]`` to create every topic.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from services.common.settings import CommonSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    schema: str
    key: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


@lru_cache(maxsize=8)
def load_catalogue(schemas_dir: Path) -> dict[str, TopicSpec]:
    """Read topics.yaml once per process: logical topic name -> spec."""
    path = Path(schemas_dir) / "topics.yaml"
    try:
        raw: dict[str, Any] = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read topic catalogue {path}: {exc}") from exc
    defaults = raw.get("defaults", {})
    specs: dict[str, TopicSpec] = {}
    for name, entry in (raw.get("topics") or {}).items():
        merged = {**defaults, **(entry or {})}
        if "schema" not in merged or "key" not in merged:
            raise ValueError(f"{path}: topic {name!r} needs 'schema' and 'key'")
        config = {"retention.ms": str(merged.get("retention_ms", 604_800_000))}
        if merged.get("cleanup_policy"):
            config["cleanup.policy"] = str(merged["cleanup_policy"])
        specs[name] = TopicSpec(
            name=name,
            schema=str(merged["schema"]),
            key=str(merged["key"]),
            partitions=int(merged.get("partitions", 3)),
            replication_factor=int(merged.get("replication_factor", 1)),
            config=config,
        )
    return specs


def topic_spec(settings: CommonSettings, logical: str) -> TopicSpec:
    catalogue = load_catalogue(Path(settings.schemas_dir))
    try:
        return catalogue[logical]
    except KeyError:
        raise ValueError(f"unknown topic {logical!r}; known: {', '.join(sorted(catalogue))}") from None


def ensure_topics(settings: CommonSettings, timeout_s: float = 30.0) -> list[str]:
    """Create every catalogue topic that does not exist yet; returns the names created."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        NewTopic(
            settings.topic(spec.name),
            num_partitions=spec.partitions,
            replication_factor=spec.replication_factor,
            config=spec.config,
        )
        for spec in load_catalogue(Path(settings.schemas_dir)).values()
        if settings.topic(spec.name) not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    log.info("created topics", extra={"topics": created})
    return created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create every topic of schemas/topics.yaml (idempotent).")
    parser.add_argument("--prefix", default=None, help="topic name prefix (default: AIG_TOPIC_PREFIX)")
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (default: AIG_KAFKA_BOOTSTRAP)")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.prefix is not None:
        overrides["topic_prefix"] = args.prefix
    if args.bootstrap is not None:
        overrides["kafka_bootstrap"] = args.bootstrap
    settings = CommonSettings(**overrides)
    try:
        created = ensure_topics(settings)
    except KafkaException as exc:
        print(f"error: cannot create topics on {settings.kafka_bootstrap}: {exc}", file=sys.stderr)
        return 1
    print(f"{len(created)} topics created, {len(load_catalogue(Path(settings.schemas_dir)))} in the catalogue")
    return 0


if __name__ == "__main__":
    sys.exit(main())

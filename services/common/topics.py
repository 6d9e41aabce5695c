"""The topic catalogue (schemas/topics.yaml) and an idempotent topic bootstrap.

Run ``python -m services.common.topics [--prefix P]`` to create every topic.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # not in its __all__

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


class TopicError(RuntimeError):
    """Topics could not be created, or the broker did not list them in time."""


@dataclass(frozen=True)
class KafkaTopic:
    """A real topic to create: what the consumers of it expect (partition count, cleanup, retention)."""

    name: str
    partitions: int
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def catalogue_topics(settings: CommonSettings) -> list[KafkaTopic]:
    """The real topics of the catalogue under ``settings.topic_prefix``."""
    return [
        KafkaTopic(settings.topic(spec.name), spec.partitions, spec.replication_factor, dict(spec.config))
        for spec in load_catalogue(Path(settings.schemas_dir)).values()
    ]


def ensure_topics(settings: CommonSettings, timeout_s: float = 30.0) -> list[str]:
    """Create every catalogue topic that does not exist yet, wait until the broker lists them; returns those created."""
    return ensure_kafka_topics(settings.kafka_bootstrap, catalogue_topics(settings), timeout_s)


def ensure_kafka_topics(bootstrap: str, topics: Sequence[KafkaTopic], timeout_s: float = 30.0) -> list[str]:
    """Create the missing ``topics`` (idempotent) and return once the broker's metadata serves all of them.

    Waiting matters: CreateTopics answers once the controller has the topic, and a consumer asking
    for metadata right then can still hear "unknown topic"; it is then assigned none of that topic's
    partitions until its next metadata refresh, minutes later. Returns the names created by this call.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout_s
    existing = set(_list_topics(admin, bootstrap, timeout_s))
    created = _create(admin, [t for t in topics if t.name not in existing], timeout_s)
    if created:
        log.info("created topics", extra={"topics": created})
    _wait_listed(admin, bootstrap, topics, deadline)
    return created


def _list_topics(admin: AdminClient, bootstrap: str, timeout_s: float) -> dict[str, Any]:
    try:
        return dict(admin.list_topics(timeout=max(timeout_s, 0.1)).topics)
    except KafkaException as exc:
        raise TopicError(f"cannot list the topics of {bootstrap}: {exc.args[0].str()}") from exc


def _create(admin: AdminClient, missing: Sequence[KafkaTopic], timeout_s: float) -> list[str]:
    """Create ``missing``; a topic created meanwhile by another process counts as done."""
    if not missing:
        return []
    wanted = [
        NewTopic(t.name, num_partitions=t.partitions, replication_factor=t.replication_factor, config=dict(t.config))
        for t in missing
    ]
    created = []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise TopicError(f"cannot create topic {name}: {exc.args[0].str()}") from exc
    return created


def unserved_topics(listed: Mapping[str, Any], topics: Sequence[KafkaTopic]) -> dict[str, str]:
    """Topics the broker does not serve yet (name -> why) in a ``list_topics().topics`` answer."""
    why: dict[str, str] = {}
    for topic in topics:
        meta = listed.get(topic.name)
        if meta is None:
            why[topic.name] = "not in the cluster metadata"
        elif meta.error is not None:
            why[topic.name] = f"metadata error {meta.error.str()}"
        elif not meta.partitions:
            why[topic.name] = "no partitions listed"
        else:
            leaderless = sorted(p for p, part in meta.partitions.items() if part.leader < 0)
            if leaderless:
                why[topic.name] = f"partitions {leaderless} have no leader"
    return why


def _wait_listed(admin: AdminClient, bootstrap: str, topics: Sequence[KafkaTopic], deadline: float) -> None:
    """Poll the metadata until every topic is served with a leader per partition, or raise TopicError."""
    delay = 0.05
    while True:
        listed = _list_topics(admin, bootstrap, deadline - time.monotonic())
        pending = unserved_topics(listed, topics)
        if not pending:
            _warn_partition_mismatch(listed, topics)
            return
        if time.monotonic() + delay > deadline:
            details = "; ".join(f"{name}: {why}" for name, why in sorted(pending.items()))
            raise TopicError(f"topics not served by {bootstrap} in time: {details}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _warn_partition_mismatch(listed: Mapping[str, Any], topics: Sequence[KafkaTopic]) -> None:
    """An existing topic keeps its partition count; say so when it differs from the expected one."""
    for topic in topics:
        have = len(listed[topic.name].partitions)
        if have != topic.partitions:
            log.warning("topic %s has %d partitions, %d expected", topic.name, have, topic.partitions)


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
    except TopicError as exc:
        print(f"error: cannot create topics on {settings.kafka_bootstrap}: {exc}", file=sys.stderr)
        return 1
    print(f"{len(created)} topics created, {len(load_catalogue(Path(settings.schemas_dir)))} in the catalogue")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Test helpers to read and write real Kafka topics through the project's codec."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from services.common.codec import codec_for
from services.common.events import header
from services.common.settings import CommonSettings
from services.common.topics import topic_spec


def read_topic(
    settings: CommonSettings,
    topic: str,
    *,
    until: Callable[[list[dict[str, Any]]], bool] | int | None = None,
    timeout_s: float = 30.0,
    raw: bool = False,
) -> list[Any]:
    """Read ``topic`` from the start until ``until`` holds (a count or a predicate) or the timeout.

    Returns decoded records (or raw bytes with ``raw=True``). With ``until=None`` it reads until
    the topic has been idle for a second.
    """
    codec = codec_for(Path(settings.schemas_dir))
    schema = topic_spec(settings, topic).schema
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([settings.topic(topic)])
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    idle_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msgs = consumer.consume(5000, 0.2)
            for msg in msgs:
                if msg.error():
                    continue
                value = msg.value() or b""
                out.append(value if raw else codec.decode(value, schema))
            if msgs:
                idle_since = time.monotonic()
            if isinstance(until, int) and len(out) >= until:
                break
            if callable(until) and until(out):
                break
            if until is None and out and time.monotonic() - idle_since > 1.0:
                break
    finally:
        consumer.close()
    return out


def committed_total(settings: CommonSettings, group_id: str, topic: str) -> int:
    """Sum of the committed offsets of ``group_id`` over the partitions of ``topic``."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group_id})
    try:
        meta = consumer.list_topics(settings.topic(topic), timeout=10)
        parts = [TopicPartition(settings.topic(topic), p) for p in meta.topics[settings.topic(topic)].partitions]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


def interaction(i: int, source: str = "test") -> dict[str, Any]:
    """A valid Interaction record, distinct per ``i``."""
    return {
        **header(source),
        "member_id": f"m{i % 997}",
        "job_id": f"j{i % 113}",
        "region": "eu",
        "device": "web",
        "industry": "software",
        "seniority": "mid",
        "years_experience": float(i % 30),
        "salary_k": 50.0 + i % 100,
        "skill_match": (i % 100) / 100,
        "distance_km": float(i % 50),
        "dwell_s": 12.5,
        "remote": bool(i % 2),
        "hour_of_day": i % 24,
    }

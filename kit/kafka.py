"""Kafka of one isolated run: delete its topics, follow its topics live, read a topic or an offset range back."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from services.common.codec import CodecError, codec_for
from services.common.settings import CommonSettings
from services.common.topics import topic_spec

Decoder = Callable[[bytes], Any]
OnRecord = Callable[[str, dict[str, Any], float], None]  # catalogue topic, decoded record, monotonic arrival


def delete_topics_with_prefix(bootstrap: str, prefix: str) -> None:
    """Best effort: a single broker slows down with thousands of leftover run topics (catalogue topics,
    faust internals and changelogs alike); a busy or gone broker does not fail the caller's teardown."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    with contextlib.suppress(KafkaException):
        doomed = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        for future in admin.delete_topics(doomed, operation_timeout=30).values() if doomed else ():
            with contextlib.suppress(Exception):  # already gone, or the broker is busy: the next run is not affected
                future.result()


def follow(
    settings: CommonSettings,
    topics: Sequence[str],
    on_record: OnRecord,
    stop: threading.Event,
    *,
    group: str = "feed",
    max_messages: int = 1000,
    poll_s: float = 0.5,
) -> None:
    """Read catalogue ``topics`` from their start until ``stop`` is set, decoding every record by the
    schema of its topic and handing it to ``on_record`` with its arrival time (run it on a thread)."""
    codec = codec_for(Path(settings.schemas_dir))
    by_name = {settings.topic(t): (t, topic_spec(settings, t).schema) for t in topics}
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{group}-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(list(by_name))
    try:
        while not stop.is_set():
            for msg in consumer.consume(max_messages, poll_s):
                if msg.error() is not None:
                    continue
                topic, schema = by_name[msg.topic() or ""]
                on_record(topic, codec.decode(msg.value() or b"", schema), time.monotonic())
    finally:
        consumer.close()


@contextlib.contextmanager
def following(
    settings: CommonSettings, topics: Sequence[str], on_record: OnRecord, **options: Any
) -> Iterator[threading.Event]:
    """:func:`follow` on a daemon thread for one ``with`` block; yields its stop event."""
    stop = threading.Event()
    thread = threading.Thread(
        target=follow, args=(settings, topics, on_record, stop), kwargs=options, name="follow", daemon=True
    )
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(10)


def read_topic(
    settings: CommonSettings,
    topic: str,
    *,
    until: Callable[[list[dict[str, Any]]], bool] | int | None = None,
    timeout_s: float = 30.0,
    raw: bool = False,
) -> list[Any]:
    """Read catalogue ``topic`` from the start until ``until`` holds (a count or a predicate) or the timeout.

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
    """Sum of the committed offsets of ``group_id`` over the partitions of catalogue ``topic``."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group_id})
    try:
        meta = consumer.list_topics(settings.topic(topic), timeout=10)
        parts = [TopicPartition(settings.topic(topic), p) for p in meta.topics[settings.topic(topic)].partitions]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


def _partitions(consumer: Consumer, topic: str) -> list[TopicPartition]:
    meta = consumer.list_topics(topic, timeout=10)
    tmeta = meta.topics.get(topic)
    if tmeta is None or tmeta.error is not None:
        return []
    return [TopicPartition(topic, p) for p in tmeta.partitions]


def group_lag(bootstrap: str, group: str, topics: Iterable[str]) -> int:
    """Messages of ``topics`` (Kafka names) not yet committed by ``group``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        total = 0
        for topic in topics:
            parts = _partitions(consumer, topic)
            if not parts:
                continue
            for tp in consumer.committed(parts, timeout=10):
                _, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
                total += high - (tp.offset if tp.offset >= 0 else 0)
        return total
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The next offset of every partition of ``topic`` (a Kafka name): where a later read ends."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"offsets-{uuid.uuid4().hex[:8]}"})
    try:
        return {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in _partitions(consumer, topic)}
    finally:
        consumer.close()


def avro_decoder(settings: CommonSettings, topic: str) -> Decoder:
    """Decode the messages of catalogue ``topic`` by its schema."""
    codec = codec_for(Path(settings.schemas_dir))
    schema = topic_spec(settings, topic).schema
    return lambda raw: codec.decode(raw, schema)


def read_range(
    bootstrap: str,
    topic: str,
    start: Mapping[int, int],
    end: Mapping[int, int],
    decode: Decoder,
    timeout_s: float = 60.0,
) -> list[tuple[Any, int]]:
    """Messages of ``topic`` from ``start`` to ``end`` offsets per partition: (decoded value, timestamp ms).

    A message that does not decode gives None: a run with bad input still accounts for every offset.
    """
    todo = {p: (start.get(p, 0), e) for p, e in end.items() if e > start.get(p, 0)}
    if not todo:
        return []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 52_428_800,
        }
    )
    consumer.assign([TopicPartition(topic, p, s) for p, (s, _) in todo.items()])
    out: list[tuple[Any, int]] = []
    remaining = dict(todo)
    deadline = time.monotonic() + timeout_s
    try:
        while remaining and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 0.5):
                if msg.error() is not None:
                    continue
                p, off = msg.partition() or 0, msg.offset() or 0
                if p not in remaining or off >= remaining[p][1]:
                    continue
                try:
                    value = decode(msg.value() or b"")
                except (CodecError, ValueError):
                    value = None
                out.append((value, msg.timestamp()[1]))
                if off + 1 >= remaining[p][1]:
                    del remaining[p]
    finally:
        consumer.close()
    return out


def read_to_end(bootstrap: str, topic: str, decode: Decoder, timeout_s: float = 60.0) -> list[tuple[Any, int]]:
    """Every message of ``topic`` (a Kafka name) written so far: :func:`read_range` from the start to its end now."""
    return read_range(bootstrap, topic, {}, end_offsets(bootstrap, topic), decode, timeout_s)

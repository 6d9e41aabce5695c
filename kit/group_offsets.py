"""Where a consumer group stands on its input topics: its lag and the topics' end, read in one pass.

The end (the sum of the high watermarks) read with the lag gives the group's input rate between two
readings, so a lag can be stated in seconds of that group's own input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition


@dataclass(frozen=True)
class GroupPosition:
    """``lag``: messages not yet committed by the group; ``end``: messages ever written to its inputs."""

    lag: int
    end: int


def group_position(bootstrap: str, group: str, topics: Iterable[str], timeout_s: float = 10.0) -> GroupPosition:
    """Lag and end of ``group`` on ``topics`` (Kafka names); a partition it never committed counts from 0."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    lag = end = 0
    try:
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if meta is None or meta.error is not None:
                continue
            parts = [TopicPartition(topic, p) for p in meta.partitions]
            for tp in consumer.committed(parts, timeout=timeout_s):
                _, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=timeout_s)
                end += high
                lag += high - (tp.offset if tp.offset >= 0 else 0)
        return GroupPosition(lag, end)
    finally:
        consumer.close()

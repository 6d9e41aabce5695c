"""Topic bootstrap on the real broker: created idempotently, served (listed with leaders) on return."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]  # not in its __all__

from kit.wait import IN_PROCESS_LOG, wait_until
from services.common.settings import CommonSettings
from services.common.topics import KafkaTopic, ensure_kafka_topics, unserved_topics


def _fresh(prefix: str) -> list[KafkaTopic]:
    return [
        KafkaTopic(f"{prefix}x-repartition", 3),
        KafkaTopic(f"{prefix}x-changelog", 3, config={"cleanup.policy": "compact"}),
        KafkaTopic(f"{prefix}x-leader", 1),
    ]


def test_created_topics_are_served_on_return_and_a_consumer_gets_every_partition(topic_prefix: str) -> None:
    settings = CommonSettings(topic_prefix=topic_prefix)
    topics = _fresh(topic_prefix)
    created = ensure_kafka_topics(settings.kafka_bootstrap, topics)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    assert sorted(created) == sorted(t.name for t in topics)
    assert unserved_topics(admin.list_topics(timeout=10).topics, topics) == {}

    # A consumer subscribing right away is assigned every partition of every topic at its first join.
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{topic_prefix}g", "enable.auto.commit": False}
    )
    assigned: set[tuple[str, int]] = set()
    consumer.subscribe(
        [t.name for t in topics], on_assign=lambda _c, ps: assigned.update((p.topic, p.partition) for p in ps)
    )

    def polled_assignment() -> set[tuple[str, int]]:
        consumer.poll(0.1)  # the topics are empty: polling only serves the group protocol
        return assigned

    try:
        wait_until(polled_assignment, 30, "the consumer got no assignment", IN_PROCESS_LOG)
    finally:
        consumer.close()
    assert assigned == {(t.name, p) for t in topics for p in range(t.partitions)}

    config = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, f"{topic_prefix}x-changelog")])
    (described,) = config.values()
    assert described.result()["cleanup.policy"].value == "compact"


def test_ensuring_again_creates_nothing_and_warns_about_a_partition_mismatch(
    topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = CommonSettings(topic_prefix=topic_prefix)
    topics = _fresh(topic_prefix)
    ensure_kafka_topics(settings.kafka_bootstrap, topics)
    assert ensure_kafka_topics(settings.kafka_bootstrap, topics) == []
    with caplog.at_level(logging.WARNING, logger="services.common.topics"):
        assert ensure_kafka_topics(settings.kafka_bootstrap, [KafkaTopic(f"{topic_prefix}x-leader", 3)]) == []
    assert f"topic {topic_prefix}x-leader has 1 partitions, 3 expected" in caplog.text

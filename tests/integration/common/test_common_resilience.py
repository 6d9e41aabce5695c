"""Crash and shutdown behaviour of a real service process (tests/support/relay.py) on real Kafka."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kit.kafka import committed_total, read_topic
from kit.records import interaction
from services.common.bus import EventProducer
from services.common.settings import REPO_ROOT, CommonSettings
from tests.integration.common.service_itest_support import start_relay


@contextmanager
def _relay(env: dict[str, str], group_id: str, **settings: str) -> Iterator[subprocess.Popen[bytes]]:
    """The relay as a process in consumer group ``group_id`` for the block; stopped (SIGTERM) afterwards."""
    relay = start_relay(env, subprocess.PIPE, AIG_GROUP_ID=group_id, **settings)
    try:
        yield relay
    finally:
        relay.terminate()
        relay.wait(20)


def _produce(settings: CommonSettings, n: int) -> set[str]:
    producer = EventProducer(settings)
    ids = set()
    for i in range(n):
        rec = interaction(i)
        ids.add(rec["event_id"])
        producer.produce("interactions.raw", rec, rec["member_id"])
    producer.flush()
    return ids


def _wait_for_outputs(settings: CommonSettings, at_least: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    count = 0
    while time.monotonic() < deadline:
        count = _count_outputs(settings)
        if count >= at_least:
            return count
        time.sleep(0.2)
    return count


def _count_outputs(settings: CommonSettings) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "counter"})
    try:
        topic = settings.topic("interactions.valid")
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        consumer.close()


def test_no_event_is_lost_when_the_consumer_is_killed(
    make_settings: Callable[..., CommonSettings], settings_env: dict[str, str], group_id: str
) -> None:
    settings = make_settings()
    total = 20_000
    sent = _produce(settings, total)
    with _relay(settings_env, group_id, AIG_BATCH_SIZE="250", AIG_DELAY_MS="0.05") as relay:
        before_kill = _wait_for_outputs(settings, total // 3, 120)
        assert before_kill >= total // 3, "relay made no progress"
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
        assert relay.returncode == -signal.SIGKILL
        assert _count_outputs(settings) < total, "the kill came too late to prove anything"
    with _relay(settings_env, group_id, AIG_BATCH_SIZE="250"):
        outputs = read_topic(
            settings, "interactions.valid", until=lambda recs: {r["event_id"] for r in recs} >= sent, timeout_s=180
        )
    out_ids = [r["event_id"] for r in outputs]
    missing = sent - set(out_ids)
    print(
        f"\nsent={total} outputs={len(out_ids)} unique={len(set(out_ids))} "
        f"replayed_after_kill={len(out_ids) - len(set(out_ids))} missing={len(missing)}"
    )
    assert not missing, f"{len(missing)} events lost"
    assert set(out_ids) == sent


def test_sigterm_finishes_the_batch_commits_and_exits_zero(
    make_settings: Callable[..., CommonSettings], settings_env: dict[str, str], group_id: str
) -> None:
    settings = make_settings()
    total = 3000
    sent = _produce(settings, total)
    relay = start_relay(settings_env, subprocess.PIPE, AIG_GROUP_ID=group_id, AIG_BATCH_SIZE="200", AIG_DELAY_MS="2")
    try:
        assert _wait_for_outputs(settings, 400, 60) >= 400
        relay.send_signal(signal.SIGTERM)
        started = time.monotonic()
        rc = relay.wait(10)
        took = time.monotonic() - started
    finally:
        if relay.poll() is None:
            relay.kill()
    stderr = relay.stderr.read().decode() if relay.stderr else ""
    assert rc == 0, f"exit code {rc}: {stderr[-2000:]}"
    assert took < 5, f"stopping took {took:.1f} s"
    produced = _count_outputs(settings)
    committed = committed_total(settings, group_id, "interactions.raw")
    assert 0 < produced < total
    # Every output produced before the stop was committed, and nothing was committed without its output.
    assert committed == produced, f"committed {committed} inputs but produced {produced} outputs"
    with _relay(settings_env, group_id, AIG_BATCH_SIZE="500"):
        outputs = read_topic(settings, "interactions.valid", until=total, timeout_s=120)
    ids = [o["event_id"] for o in outputs]
    assert set(ids) == sent and len(ids) == total, "a clean stop must neither lose nor repeat events"


def test_service_exits_with_a_clear_error_when_kafka_is_unreachable(settings_env: dict[str, str]) -> None:
    env = {
        **settings_env,
        "AIG_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "AIG_DEPENDENCY_TIMEOUT_S": "2",
        "AIG_LOG_TO_KAFKA": "false",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.relay"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Kafka not reachable after 2 s" in proc.stdout
    assert os.environ.get("AIG_KAFKA_BOOTSTRAP") != "127.0.0.1:1"

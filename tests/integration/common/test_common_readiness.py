"""Readiness of bus consumers on a real broker: not ready (with the reason) until they hold partitions.

Other consumers of the same group hold the assignment back: members that do not answer a rebalance
(the join waits for them), or members that took every partition (the newcomer joins with none).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from kit.ports import free_port
from kit.procs import start_module, terminate
from kit.wait import IN_PROCESS_LOG, wait_until
from services.common.bus import Event, Out, StreamProcessor
from services.common.settings import CommonSettings
from tests.integration.common.service_itest_support import ReadyAnswer, get_ready, ready_200


def _member(settings: CommonSettings, group_id: str, name: str) -> Consumer:
    """A group member with rebalance callbacks: it takes part in a rebalance only when polled."""
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": group_id,
            "client.id": name,
            "enable.auto.commit": False,
            "session.timeout.ms": 10_000,
            "max.poll.interval.ms": 120_000,
        }
    )


def _hold(settings: CommonSettings, member: Consumer, log: Path | str) -> None:
    """Subscribe ``member`` to interactions.raw and poll until it holds partitions."""
    held: list[int] = []
    member.subscribe(
        [settings.topic("interactions.raw")], on_assign=lambda _c, parts: held.extend(p.partition for p in parts)
    )

    def polled_and_held() -> bool:
        member.poll(0.1)
        return bool(held)

    wait_until(polled_and_held, 60, "the blocking member got no partition", log)


@contextmanager
def _members_polling(settings: CommonSettings, group_id: str, count: int, log: Path | str) -> Iterator[list[Consumer]]:
    """``count`` members that keep polling (so they answer rebalances) until the block ends, then leave."""
    members = [_member(settings, group_id, f"a-member-{i}") for i in range(count)]
    held: dict[int, set[int]] = {i: set() for i in range(count)}
    stop = threading.Event()

    def on_assign(i: int) -> Callable[[Consumer, list[Any]], None]:
        return lambda _c, parts: held[i].update(p.partition for p in parts)

    def on_revoke(i: int) -> Callable[[Consumer, list[Any]], None]:
        return lambda _c, _parts: held[i].clear()

    for i, member in enumerate(members):
        member.subscribe([settings.topic("interactions.raw")], on_assign=on_assign(i), on_revoke=on_revoke(i))

    def poll_all() -> None:
        while not stop.is_set():
            for member in members:
                member.poll(0.05)

    thread = threading.Thread(target=poll_all, name="members", daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: all(len(h) == 1 for h in held.values()), 60, f"{count} members did not get one partition each", log
        )
        yield members
    finally:
        stop.set()
        thread.join(10)
        for member in members:
            member.close()


def test_processor_is_not_ready_while_its_group_gives_it_no_partition(
    make_settings: Callable[..., CommonSettings], group_id: str
) -> None:
    settings = make_settings(service_name="zz-readiness")  # sorts after the members: the range assignor skips it
    log = IN_PROCESS_LOG

    def handle(event: Event) -> list[Out]:
        return []

    processor = StreamProcessor(settings, ["interactions.raw"], group_id, handle)
    assert processor.readiness() == (
        False,
        f"consumer group {group_id}: not consuming (yet) from {settings.topic('interactions.raw')}",
    )
    stop = threading.Event()
    thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    try:
        with _members_polling(settings, group_id, 3, log):
            thread.start()
            wait_until(
                lambda: "joined with no partition" in processor.readiness()[1],
                60,
                f"the processor never joined empty-handed: {processor.readiness()}",
                log,
            )
            assert not processor.ready and processor.readiness()[0] is False
        # The members left: the next rebalance gives the processor every partition.
        assert processor.wait_ready(60), f"no partitions after the members left: {processor.readiness()}"
        ok, reason = processor.readiness()
        assert ok and reason == f"consumer group {group_id}: holds {settings.topic('interactions.raw')}[0, 1, 2]"
    finally:
        stop.set()
        thread.join(15)
    assert processor.readiness()[0] is False  # stopped: not consuming any more


@pytest.mark.timeout(240)
def test_service_ready_only_after_assignment(
    make_settings: Callable[..., CommonSettings], settings_env: dict[str, str], group_id: str, tmp_path: Path
) -> None:
    """A bus service (tests/support/relay.py through the shared runner): /ready is 503 with the reason while
    its join waits for a member that does not answer the rebalance, 200 once it holds partitions."""
    settings = make_settings()
    log = tmp_path / "relay.log"
    blocker = _member(settings, group_id, "a-blocker")
    blocker_open = True
    relay = None
    try:
        _hold(settings, blocker, log)
        port = free_port()
        env = {**settings_env, "AIG_GROUP_ID": group_id, "AIG_LOG_TO_KAFKA": "false", "AIG_HTTP_PORT": str(port)}
        relay = start_module("tests.support.relay", env, log)

        def waiting() -> ReadyAnswer | None:
            answer = get_ready(port)
            waits = answer is not None and "waiting for a partition assignment" in answer.reason("kafka_assignment")
            return answer if waits else None

        blocked = wait_until(waiting, 60, "the relay never reported waiting for its assignment", log, relay)
        assert blocked.status == 503 and blocked.body["ready"] is False, blocked
        assert blocked.body["checks"] == {"kafka": False, "kafka_assignment": False}, blocked
        assert group_id in blocked.reason("kafka_assignment"), blocked

        blocker.close()  # leaves the group: the rebalance completes without it
        blocker_open = False
        ready = wait_until(
            lambda: ready_200(port), 60, "the relay did not become ready after the blocker left", log, relay
        )
        topic = settings.topic("interactions.raw")
        assert ready.reason("kafka_assignment") == f"consumer group {group_id}: holds {topic}[0, 1, 2]", ready
    finally:
        if blocker_open:
            blocker.close()
        code = terminate(relay, 30.0) if relay is not None else 0
    assert code == 0, f"the relay exited with {code}; read {log}"

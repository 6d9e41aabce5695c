"""A retryable outage longer than max.poll.interval.ms, on real Kafka: the processor stays in its group
(it keeps polling with its partitions paused), survives the outage's end, and loses nothing.

In ``make test`` the outage lasts 2.5 times a 10 s poll interval; ``make soak`` plays the full case,
6 minutes against the default 5-minute interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest

from kit.kafka import committed_total, read_topic
from kit.records import interaction
from services.common.bus import Event, EventProducer, Out, RetryableError, StreamProcessor
from services.common.settings import CommonSettings

pytestmark = pytest.mark.infra


def _outage_survived(settings: CommonSettings, group: str, outage_s: float, poll_interval_ms: int | None) -> None:
    events = [interaction(i) for i in range(40)]
    producer = EventProducer(settings)
    for e in events:
        producer.produce("interactions.raw", e, key=e["member_id"])
    producer.flush(30)
    over_at = time.monotonic() + outage_s
    refused = [0]

    def handle(event: Event) -> Iterable[Out]:
        if time.monotonic() < over_at:
            refused[0] += 1
            raise RetryableError("PostgreSQL unavailable (simulated outage of the handler's dependency)")
        return [Out("interactions.valid", event.value, key=event.key)]

    conf: dict[str, Any] = {"max.poll.interval.ms": poll_interval_ms} if poll_interval_ms else {}
    processor = StreamProcessor(
        settings, ["interactions.raw"], group, handle, consumer_config=conf, max_retry_backoff_s=2.0
    )
    errors: list[BaseException] = []

    def run(stop: threading.Event) -> None:
        try:
            processor.run(stop)
        except BaseException as exc:
            errors.append(exc)

    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert processor.wait_ready(60)
        out = read_topic(settings, "interactions.valid", until=len(events), timeout_s=outage_s + 120)
        assert refused[0] > 0, "the outage was not played"
        assert sorted(o["event_id"] for o in out) == sorted(e["event_id"] for e in events)
        assert thread.is_alive() and not errors, f"the processor died: {errors}"
        deadline = time.monotonic() + 30
        while committed_total(settings, group, "interactions.raw") < len(events) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert committed_total(settings, group, "interactions.raw") == len(events)
    finally:
        stop.set()
        thread.join(30)
    assert not errors and not thread.is_alive()


def test_an_outage_longer_than_the_poll_interval_loses_nothing(make_settings: Any, group_id: str) -> None:
    settings = make_settings(CommonSettings, poll_timeout_s=0.1)
    _outage_survived(settings, group_id, outage_s=25.0, poll_interval_ms=10_000)


@pytest.mark.slow
def test_a_six_minute_outage_loses_nothing(make_settings: Any, group_id: str) -> None:
    settings = make_settings(CommonSettings, poll_timeout_s=0.1)
    _outage_survived(settings, group_id, outage_s=360.0, poll_interval_ms=None)

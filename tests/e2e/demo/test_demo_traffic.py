"""The demo's traffic on real Kafka: one continuous simulated day across loadgen restarts.

The demo restarts loadgen for every data fault. Each process reads the simulated hour off the
wall clock from one anchor, so the day goes on across a restart instead of starting over, and a
fault with a duration hits only the stretch it was given.
"""

from __future__ import annotations

import time
from datetime import datetime
from itertools import pairwise
from typing import Any

import pytest

from kit.kafka import read_topic
from loadgen.redis_server import private_redis
from loadgen.stack import Stack
from loadgen.traffic import REGIONS, simulated_hour
from loadgen.traffic_process import Traffic
from services.common.events import now_ms

pytestmark = pytest.mark.timeout(180)

SCALE = 7200.0  # two simulated hours a second: the 14 s of the test cover a whole day


def _ms(value: Any) -> int:
    """An Avro timestamp-millis as epoch ms (decoded as an aware datetime)."""
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else int(value)


def test_restarted_loadgen_keeps_one_simulated_day_and_scopes_its_fault(infra: dict[str, str]) -> None:
    with (
        private_redis() as (url, _),
        Stack(name="demotraffic", services=(), redis_server=url, purge_on_exit=True) as stack,
    ):
        traffic = Traffic(stack, rate=100.0, time_scale=SCALE)
        try:
            traffic.restart()
            time.sleep(6)
            second_ms = now_ms()
            traffic.restart((("null_burst", 3.0, {"feature": "skill_match"}),))
            time.sleep(8)
        finally:
            traffic.stop()
        events = read_topic(stack.settings, "interactions.raw", until=None, timeout_s=60)

    assert len(events) > 800, len(events)
    ts = sorted(_ms(e["ts"]) for e in events)
    gaps = [b - a for a, b in pairwise(ts)]
    assert max(gaps) < 5_000, f"traffic stopped for {max(gaps)} ms at the restart"
    # Both processes follow one clock: every event's local hour is the anchored hour of its timestamp.
    for e in events:
        at = _ms(e["ts"])
        utc = simulated_hour(at, traffic.anchor_ms, traffic.start_hour, SCALE)
        assert e["hour_of_day"] == int((utc + REGIONS[e["region"]]) % 24), e
    # A whole simulated day went by: the day moved on, it did not start over with the second process.
    hours = {int(simulated_hour(t, traffic.anchor_ms, traffic.start_hour, SCALE)) for t in ts}
    assert len(hours) >= 22, sorted(hours)
    nulls = sorted(_ms(e["ts"]) for e in events if e["skill_match"] is None)
    assert len(nulls) > 150, len(nulls)
    assert nulls[0] >= second_ms and nulls[-1] - nulls[0] <= 3_500, (second_ms, nulls[0], nulls[-1])
    assert any(t > nulls[-1] + 1_000 for t in ts), "no normal traffic after the burst"

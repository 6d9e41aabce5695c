"""Per-phase references: a late event near a phase boundary does not rebuild pools back and forth."""

from __future__ import annotations

import math
import random

import pytest

from services.drift.config import SeasonThresholds
from services.drift.stats import season
from services.drift.stats.season import NumericReference

PERIOD_S = 120.0  # the demo's day: a phase lasts 0.42 s


@pytest.mark.parametrize("daily", [True, False])
def test_pools_are_rebuilt_once_per_phase_entered_however_events_interleave(
    daily: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    ref = NumericReference("x", SeasonThresholds(period_s=PERIOD_S), warmup=100)
    period_ms = int(PERIOD_S * 1000)

    def value(ts: int) -> float:
        return (10 * math.sin(2 * math.pi * ts / period_ms) if daily else 0.0) + rng.gauss(0, 1)

    ts = 0
    while not ref.add(value(ts), ts):
        ts += 5
    builds = 0
    real_pool = season._Pool

    class CountingPool(real_pool):  # type: ignore[misc, valid-type]
        def __init__(self, values: list[float]) -> None:
            nonlocal builds
            builds += 1
            super().__init__(values)

    monkeypatch.setattr(season, "_Pool", CountingPool)
    start = ts
    for _ in range(20_000):  # 100 s of event time; three partitions interleave up to 60 ms out of order
        ts += 5
        late = ts - rng.choice((0, 0, 20, 60))
        x = value(late)
        assert math.isfinite(ref.pool(late).z(x, 8.0))
        ref.learn(x, late)
    phases = math.ceil((ts - start) / (period_ms / 288)) + 1
    limit = phases if daily else phases // 12 + 1  # the whole-day pool: once per hour-long group at most
    assert builds <= limit, f"{builds} pool builds for {phases} phases entered"

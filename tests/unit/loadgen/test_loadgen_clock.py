"""The simulated clock of seasonal traffic stays continuous when loadgen is restarted."""

from __future__ import annotations

from loadgen.cli import build_faults, parser
from loadgen.traffic import TrafficConfig, TrafficGenerator, aligned_start_hour, simulated_hour

SCALE = 720.0  # a day in 120 s
PERIOD_MS = 120_000


def test_two_processes_on_one_anchor_share_one_day() -> None:
    anchor = 1_700_000_000_000
    cfg = TrafficConfig(seed=1, members=200, jobs=50, time_scale=SCALE, start_hour_utc=3.0, clock_anchor_ms=anchor)
    first = TrafficGenerator(cfg)
    # The second process starts 45 s of wall time later, its own traffic time from 0 again.
    second = TrafficGenerator(cfg)
    at_45s = anchor + 45_000
    hour_first = first.hour_at(45.0, at_45s)
    hour_second = second.hour_at(0.0, at_45s)
    assert hour_first == hour_second == (3.0 + 45 * SCALE / 3600) % 24
    # The events follow the timestamp, not the process's traffic time.
    ev = second.next(0, 0.0, at_45s).event
    region_offset = {"na": -5, "latam": -3, "eu": 1, "mea": 3, "apac": 8}[ev["region"]]
    assert ev["hour_of_day"] == int((hour_second + region_offset) % 24)


def test_without_an_anchor_the_hour_follows_traffic_time() -> None:
    gen = TrafficGenerator(TrafficConfig(seed=1, members=50, jobs=10, time_scale=SCALE, start_hour_utc=14.0))
    assert gen.hour_at(60.0, 123) == gen.utc_hour(60.0) == (14.0 + 12.0) % 24


def test_the_aligned_start_hour_makes_the_hour_a_function_of_the_wall_clock() -> None:
    for anchor in (1_700_000_000_000, 1_700_000_033_333, 1_700_000_119_999):
        start = aligned_start_hour(anchor, SCALE)
        for ts in (anchor, anchor + 7_000, anchor + 500_001):
            expected = (ts % PERIOD_MS) / PERIOD_MS * 24
            assert abs(simulated_hour(ts, anchor, start, SCALE) - expected) < 1e-6


def test_inf_duration_keeps_a_fault_on_while_a_later_one_ends() -> None:
    args = parser().parse_args(
        [
            "run",
            "--fault",
            "concept_drift",
            "--fault-at",
            "0",
            "--fault-duration",
            "inf",
            "--fault",
            "null_burst",
            "--fault-at",
            "0",
            "--fault-duration",
            "20",
        ]
    )
    concept, nulls = build_faults(args)
    assert concept.duration_s is None and concept.active(10_000.0)
    assert nulls.duration_s == 20.0 and nulls.active(19.0) and not nulls.active(20.0)

"""The soak verdict's arithmetic: least-squares slope, input rate, memory and lag trends, PASS/FAIL."""

from __future__ import annotations

import pytest

from bench.soak.trend import (
    Limits,
    after_warmup,
    judge,
    lag_trend,
    memory_trend,
    per_second,
    slope,
    traffic_held,
)

MINUTE = 60.0
TIMES = [k * MINUTE for k in range(31)]  # a 30-minute run sampled every minute
LIMITS = Limits(warmup_s=300.0)


def test_slope_of_a_line_is_exact() -> None:
    assert slope([0, 1, 2, 3], [5, 7, 9, 11]) == pytest.approx(2.0)
    assert slope([0, 10, 20], [4, 4, 4]) == 0.0


def test_slope_is_least_squares_not_first_to_last() -> None:
    # one high sample at the end moves a first-to-last difference a lot, the fitted slope much less
    xs, ys = [0.0, 1, 2, 3, 4], [10.0, 10, 10, 10, 14]
    assert slope(xs, ys) == pytest.approx(0.8)
    assert (ys[-1] - ys[0]) / (xs[-1] - xs[0]) == pytest.approx(1.0)


@pytest.mark.parametrize(("xs", "ys"), [([1.0], [1.0]), ([1.0, 1.0], [1.0, 2.0]), ([1.0, 2.0], [1.0])])
def test_slope_refuses_what_has_no_slope(xs: list[float], ys: list[float]) -> None:
    with pytest.raises(ValueError):
        slope(xs, ys)


def test_per_second_and_warmup_window() -> None:
    assert per_second([0.0, 10.0, 20.0], [0, 500, 2000]) == 100.0
    assert per_second([5.0], [7]) == 0.0
    assert after_warmup([0.0, 60, 120, 180], 120.0) == [2, 3]


def test_flat_memory_after_warmup_passes_despite_a_start_up_climb() -> None:
    rss = [100.0 + min(t, 240.0) / 4 for t in TIMES]  # +60 MiB while warming up, flat afterwards
    trend = memory_trend(TIMES, rss, LIMITS)
    assert trend.growth_mib == pytest.approx(60.0)
    assert trend.window_growth_mib == 0.0
    assert trend.slope_mib_h == pytest.approx(0.0)
    assert trend.points == 26 and trend.window_s == 1500.0
    assert judge("feature", TIMES, rss, [0] * 31, [0] * 31, LIMITS).ok


def test_steady_leak_fails_on_slope() -> None:
    rss = [200.0 + 12.0 * t / 3600 for t in TIMES]  # 12 MiB per hour
    verdict = judge("drift", TIMES, rss, [0] * 31, [0] * 31, LIMITS)
    assert verdict.memory.slope_mib_h == pytest.approx(12.0)
    assert verdict.memory.fitted_rise_mib == pytest.approx(5.0)
    assert not verdict.ok and not verdict.memory_ok and verdict.lag_ok
    assert "12.0 MiB/h" in verdict.reasons[0]


def test_steep_slope_within_jitter_of_a_short_run_passes() -> None:
    times = [0.0, 30, 60, 90, 120, 150, 180, 210, 240]
    rss = [300.0, 301, 300, 301, 300, 301, 301, 302, 301]  # a jitter of a MiB or two, three minutes after warm-up
    verdict = judge("logclassifier", times, rss, [0] * 9, [0] * 9, Limits(warmup_s=60.0))
    assert verdict.memory.slope_mib_h is not None and verdict.memory.slope_mib_h > LIMITS.max_slope_mib_h
    assert verdict.memory.fitted_rise_mib is not None and verdict.memory.fitted_rise_mib < LIMITS.noise_mib
    assert verdict.ok


def test_too_few_samples_after_warmup_is_a_fail_not_a_pass() -> None:
    verdict = judge("trainer", [0.0, 60, 120], [100.0, 100, 100], [0, 0, 0], [0, 0, 0], Limits(warmup_s=90.0))
    assert verdict.memory.slope_mib_h is None
    assert not verdict.memory_ok and "samples after the warm-up" in verdict.reasons[0]


def test_lag_is_judged_in_seconds_of_the_groups_own_input() -> None:
    ends = [int(t * 200) for t in TIMES]  # 200 input messages/s
    small = [150] * 31  # under a second of input
    trend = lag_trend(TIMES, small, ends, LIMITS)
    assert trend.input_per_s == pytest.approx(200.0)
    assert (trend.final_allowed, trend.max_allowed) == (1000, 6000)
    assert trend.seconds(trend.final_lag) == pytest.approx(0.75)
    assert judge("ingest", TIMES, [50.0] * 31, small, ends, LIMITS).lag_ok


def test_a_growing_backlog_fails_at_the_end_and_on_its_maximum() -> None:
    ends = [int(t * 100) for t in TIMES]
    growing = [int(t * 10) for t in TIMES]  # falls behind by 10 messages each second: 18,000 at the end
    verdict = judge("feature", TIMES, [80.0] * 31, growing, ends, LIMITS)
    assert not verdict.lag_ok and verdict.memory_ok
    assert any("at the end 18000" in r for r in verdict.reasons)
    assert any("reached 18000" in r for r in verdict.reasons)


def test_a_spike_during_warmup_does_not_count_but_one_after_does() -> None:
    ends = [int(t * 100) for t in TIMES]
    early = [5000 if t == 120 else 10 for t in TIMES]
    late = [5000 if t == 900 else 10 for t in TIMES]
    assert judge("inference", TIMES, [60.0] * 31, early, ends, LIMITS).ok
    late_verdict = judge("inference", TIMES, [60.0] * 31, late, ends, LIMITS)
    assert [r for r in late_verdict.reasons] == ["lag reached 5000 messages > 3000"]


def test_quiet_inputs_are_held_to_the_floor() -> None:
    trend = lag_trend(TIMES, [3] * 31, [7] * 31, LIMITS)  # commands: nothing new
    assert trend.input_per_s == 0.0 and trend.seconds(3) is None
    assert trend.final_allowed == LIMITS.lag_floor
    assert not lag_trend(TIMES, [0] * 30 + [LIMITS.lag_floor + 1], [7] * 31, LIMITS).final_lag <= LIMITS.lag_floor


def test_traffic_held_within_five_percent() -> None:
    assert traffic_held(96.0, 100.0)
    assert not traffic_held(94.0, 100.0)

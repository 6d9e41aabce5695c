"""The arithmetic of a soak verdict, free of I/O so it is tested alone.

A service passes when its memory stops growing once warmed up and its consumer groups keep up:

- memory: the least-squares slope of RSS over the samples after the warm-up stays under a limit in
  MiB per hour, or the rise that slope makes over the window stays within the RSS jitter (a short run
  cannot tell a few MiB of allocator noise from a leak, so it only catches large ones);
- lag: the largest lag after the warm-up and the lag at the last sample, in seconds of the group's own
  input (messages / input messages per second), stay under their limits; a group with almost no input
  (commands, incidents) is held to a floor in messages instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

HOUR_S = 3600.0


@dataclass(frozen=True)
class Limits:
    """What a service must stay under after ``warmup_s`` seconds of the run."""

    warmup_s: float
    max_slope_mib_h: float = 6.0
    noise_mib: float = 3.0
    final_lag_s: float = 5.0
    max_lag_s: float = 30.0
    lag_floor: int = 100
    min_points: int = 3

    def describe(self) -> str:
        return (
            f"memory: slope <= {self.max_slope_mib_h:g} MiB/h after {self.warmup_s:g} s of warm-up, or its rise over "
            f"the window <= {self.noise_mib:g} MiB (RSS jitter); lag: at the end <= {self.final_lag_s:g} s and at "
            f"most <= {self.max_lag_s:g} s of the group's input (never under {self.lag_floor} messages)"
        )


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``ys`` over ``xs``: a trend that one noisy sample at either end does not decide."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values for {len(ys)} y values")
    if len(xs) < 2:
        raise ValueError("a slope needs at least two points")
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("a slope needs two distinct x values")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def per_second(times_s: Sequence[float], totals: Sequence[int]) -> float:
    """Growth per second of a counter between its first and last reading (0 without two readings apart)."""
    if len(times_s) < 2 or times_s[-1] <= times_s[0]:
        return 0.0
    return (totals[-1] - totals[0]) / (times_s[-1] - times_s[0])


def after_warmup(times_s: Sequence[float], warmup_s: float) -> list[int]:
    """Indexes of the samples taken at or after ``warmup_s``."""
    return [i for i, t in enumerate(times_s) if t >= warmup_s]


@dataclass(frozen=True)
class MemoryTrend:
    """RSS of one service over the run; ``slope_mib_h`` and ``window_*`` cover the samples after the warm-up."""

    first_mib: float
    last_mib: float
    window_first_mib: float
    window_s: float
    points: int
    slope_mib_h: float | None  # None: too few samples after the warm-up

    @property
    def growth_mib(self) -> float:
        """First sample to last, warm-up included."""
        return self.last_mib - self.first_mib

    @property
    def window_growth_mib(self) -> float:
        return self.last_mib - self.window_first_mib

    @property
    def fitted_rise_mib(self) -> float | None:
        """What the slope adds over the window: the size of the trend next to the jitter."""
        return None if self.slope_mib_h is None else self.slope_mib_h * self.window_s / HOUR_S


def memory_trend(times_s: Sequence[float], rss_mib: Sequence[float], limits: Limits) -> MemoryTrend:
    if not times_s or len(times_s) != len(rss_mib):
        raise ValueError("memory_trend needs one RSS value per sample time")
    idx = after_warmup(times_s, limits.warmup_s)
    xs = [times_s[i] for i in idx]
    ys = [rss_mib[i] for i in idx]
    fitted = len(idx) >= max(2, limits.min_points) and xs[-1] > xs[0]
    return MemoryTrend(
        first_mib=rss_mib[0],
        last_mib=rss_mib[-1],
        window_first_mib=ys[0] if ys else rss_mib[-1],
        window_s=xs[-1] - xs[0] if xs else 0.0,
        points=len(idx),
        slope_mib_h=slope(xs, ys) * HOUR_S if fitted else None,
    )


@dataclass(frozen=True)
class LagTrend:
    """Consumer lag of one service (all its groups) against the rate of their input."""

    input_per_s: float
    max_lag: int  # after the warm-up
    final_lag: int
    max_allowed: int
    final_allowed: int

    def seconds(self, lag: int) -> float | None:
        """``lag`` in seconds of this input; None for an input that did not move."""
        return lag / self.input_per_s if self.input_per_s > 0 else None


def lag_trend(times_s: Sequence[float], lags: Sequence[int], ends: Sequence[int], limits: Limits) -> LagTrend:
    if not times_s or not len(times_s) == len(lags) == len(ends):
        raise ValueError("lag_trend needs one lag and one end offset per sample time")
    idx = after_warmup(times_s, limits.warmup_s) or [len(times_s) - 1]
    rate = max(0.0, per_second([times_s[i] for i in idx], [ends[i] for i in idx]))
    return LagTrend(
        input_per_s=rate,
        max_lag=max(lags[i] for i in idx),
        final_lag=lags[-1],
        max_allowed=max(limits.lag_floor, round(limits.max_lag_s * rate)),
        final_allowed=max(limits.lag_floor, round(limits.final_lag_s * rate)),
    )


@dataclass(frozen=True)
class Verdict:
    """PASS/FAIL of one service, with the reasons of a FAIL."""

    service: str
    memory: MemoryTrend
    lag: LagTrend
    reasons: tuple[str, ...] = field(default=())

    @property
    def memory_ok(self) -> bool:
        return not any(r.startswith("memory") for r in self.reasons)

    @property
    def lag_ok(self) -> bool:
        return not any(r.startswith("lag") for r in self.reasons)

    @property
    def ok(self) -> bool:
        return not self.reasons


def memory_reasons(trend: MemoryTrend, limits: Limits) -> list[str]:
    """Why the memory trend fails, empty when it passes."""
    if trend.slope_mib_h is None or trend.fitted_rise_mib is None:
        return [f"memory: {trend.points} samples after the warm-up, {limits.min_points} needed for a trend"]
    if trend.slope_mib_h > limits.max_slope_mib_h and trend.fitted_rise_mib > limits.noise_mib:
        return [
            f"memory grows {trend.slope_mib_h:.1f} MiB/h (limit {limits.max_slope_mib_h:g}), "
            f"{trend.fitted_rise_mib:.1f} MiB over the window (jitter {limits.noise_mib:g})"
        ]
    return []


def lag_reasons(trend: LagTrend) -> list[str]:
    """Why the lag fails, empty when it passes."""
    out = []
    if trend.final_lag > trend.final_allowed:
        out.append(f"lag at the end {trend.final_lag} messages > {trend.final_allowed}")
    if trend.max_lag > trend.max_allowed:
        out.append(f"lag reached {trend.max_lag} messages > {trend.max_allowed}")
    return out


def judge(
    service: str,
    times_s: Sequence[float],
    rss_mib: Sequence[float],
    lags: Sequence[int],
    ends: Sequence[int],
    limits: Limits,
) -> Verdict:
    """The verdict of one service from its samples."""
    memory = memory_trend(times_s, rss_mib, limits)
    lag = lag_trend(times_s, lags, ends, limits)
    return Verdict(service, memory, lag, tuple(memory_reasons(memory, limits) + lag_reasons(lag)))


def traffic_held(measured_per_s: float, target_per_s: float, tolerance: float = 0.05) -> bool:
    """The offered traffic reached the rate asked for (within ``tolerance``): a soak below it proves less."""
    return measured_per_s >= (1.0 - tolerance) * target_per_s

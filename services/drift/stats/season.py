"""References per phase of the daily cycle: live traffic is compared with the same hour of past days.

Why: real traffic has a daily cycle (the hour of day, the regional mix, window counts all move with
the clock). A reference learnt over one part of the day calls every other part a drift. So a
reference is kept per phase bin of the period (``SeasonThresholds``): a value is ranked among the
reference values of its own phase (and its neighbours), which makes any stable seasonal stream look
stationary to the change detectors, while a real shift still moves the ranks.

Without a season (``period_s`` 0) there is one bin and the reference is the first ``warmup`` values.
"""

from __future__ import annotations

import bisect
import math
import random
from array import array
from collections import Counter
from dataclasses import dataclass
from statistics import NormalDist

from services.drift.config import SeasonThresholds

_INV = NormalDist().inv_cdf


@dataclass(frozen=True)
class Season:
    """Maps an event time to its phase bin."""

    period_ms: int
    bins: int

    @classmethod
    def of(cls, cfg: SeasonThresholds) -> Season:
        period_ms = int(cfg.period_s * 1000)
        return cls(period_ms, cfg.bins if period_ms > 0 else 1)

    @property
    def seasonal(self) -> bool:
        return self.period_ms > 0

    def bin(self, ts_ms: int) -> int:
        if self.period_ms <= 0:
            return 0
        return int((ts_ms % self.period_ms) * self.bins // self.period_ms)


def _groups(n_bins: int, n_groups: int = 24) -> list[list[int]]:
    """Phase bins cut into ``n_groups`` consecutive groups (hours of a day)."""
    size = max(n_bins // n_groups, 1)
    return [list(range(i, min(i + size, n_bins))) for i in range(0, n_bins, size)]


class _Warmup:
    """When a reference is complete: ``min_values`` seen and, with a season, one whole period covered."""

    def __init__(self, season: Season, min_values: int) -> None:
        self.season = season
        self.min_values = min_values
        self.n = 0
        self.first_ts: int | None = None
        self.last_ts = 0

    def add(self, ts_ms: int) -> bool:
        self.n += 1
        if self.first_ts is None:
            self.first_ts = ts_ms
        self.last_ts = max(self.last_ts, ts_ms)
        if self.n < self.min_values:
            return False
        return not self.season.seasonal or self.last_ts - self.first_ts >= self.season.period_ms


class _Reservoir:
    """Uniform sample of at most ``cap`` values of one bin (deterministic per feature and bin).

    ``horizon`` bounds the count of values seen, so the sample keeps renewing itself: about the last
    ``horizon / cap`` periods' worth are represented, older days fade out.
    """

    __slots__ = ("cap", "horizon", "rng", "seen", "values")

    def __init__(self, cap: int, seed: str, horizon: int = 0) -> None:
        self.cap = cap
        self.horizon = horizon
        self.seen = 0
        self.values: list[float] = []
        self.rng = random.Random(seed)

    def add(self, x: float) -> None:
        if self.horizon and self.seen >= self.horizon:
            self.seen = self.horizon - 1
        self.seen += 1
        if len(self.values) < self.cap:
            self.values.append(x)
            return
        j = self.rng.randrange(self.seen)
        if j < self.cap:
            self.values[j] = x


class _Pool:
    """The sorted reference values a value of one phase is ranked among, with their normal-score moments."""

    __slots__ = ("mean", "score_mean", "score_sd", "sd", "sorted")

    def __init__(self, values: list[float]) -> None:
        self.sorted = array("d", sorted(values))
        n = len(values)
        self.mean = sum(values) / n
        self.sd = math.sqrt(sum((v - self.mean) ** 2 for v in values) / max(n - 1, 1))
        scores = [self.score(v) for v in values]
        self.score_mean = sum(scores) / n
        sd = math.sqrt(sum((s - self.score_mean) ** 2 for s in scores) / max(n - 1, 1))
        self.score_sd = sd if sd > 1e-9 else 1e-9  # a constant feature: any change of it is large

    def score(self, x: float) -> float:
        """Normal score of x: its mid-rank among the pool, through the normal quantile."""
        s = self.sorted
        n = len(s)
        q = (bisect.bisect_left(s, x) + bisect.bisect_right(s, x)) / (2 * n)
        return _INV(min(max(q, 0.5 / n), 1 - 0.5 / n))

    def z(self, x: float, clip: float) -> float:
        z = (self.score(x) - self.score_mean) / self.score_sd
        return clip if z > clip else -clip if z < -clip else z


class NumericReference:
    """Reference values of one numeric feature per phase; ``pool(ts).z(x)`` once :attr:`complete`.

    With a season the reference keeps learning after it is complete (:meth:`learn`, fed by the
    detector while nothing is suspected), so a phase is compared with that phase over the last days,
    not with one day's idiosyncrasies; a phase's pool is rebuilt, at most once per period, when the
    stream enters it and its values changed.
    """

    def __init__(self, name: str, cfg: SeasonThresholds, warmup: int) -> None:
        self.season = Season.of(cfg)
        self.cfg = cfg
        cap = cfg.max_per_bin if self.season.seasonal else max(warmup, 1)
        horizon = cap * cfg.horizon_periods if self.season.seasonal else 0
        self._bins = [_Reservoir(cap, f"{name}:{b}", horizon) for b in range(self.season.bins)]
        self._warmup = _Warmup(self.season, warmup)
        self._pools: list[_Pool] = []
        self._reach: list[int] = []
        self._changed: list[int] = [0] * self.season.bins  # learn count when each bin last changed
        self._built: list[int] = []  # learn count when each pool was built
        self._learnt = 0
        self._frontier_ms = -1  # the newest event time seen, and its phase: pools refresh as time moves on
        self._frontier_bin = -1
        self._global = False
        self.seasonal_effect = 0.0
        self.overall_mean = 0.0
        self.overall_sd = 0.0
        self.size = 0

    @property
    def complete(self) -> bool:
        return bool(self._pools)

    def add(self, x: float, ts_ms: int) -> bool:
        """A warm-up value; True once the reference is complete (then it no longer changes)."""
        self._bins[self.season.bin(ts_ms)].add(x)
        if self._warmup.add(ts_ms):
            self._finish()
            return True
        return False

    def _finish(self) -> None:
        bins = self._bins
        n_bins = len(bins)
        everything = [v for b in bins for v in b.values]
        self.size = len(everything)
        self.overall_mean = sum(everything) / self.size
        self.overall_sd = math.sqrt(sum((v - self.overall_mean) ** 2 for v in everything) / max(self.size - 1, 1))
        whole = _Pool(everything)
        self.seasonal_effect = self._seasonal_effect(whole) if self.season.seasonal else 0.0
        self._built = [0] * n_bins
        if self.seasonal_effect < self.cfg.min_effect:
            # No daily pattern worth the name: one pool of the whole day is a far less noisy reference.
            self._global = True
            self._pools = [whole] * n_bins
            self._reach = [n_bins] * n_bins
            return
        for b in range(n_bins):
            reach = self.cfg.pool if self.season.seasonal else 0
            while True:
                values = self._values_near(b, reach)
                if len(values) >= self.cfg.min_pool or 2 * reach + 1 >= n_bins:
                    break
                reach += 1
            self._reach.append(reach)
            self._pools.append(_Pool(values or everything))

    def _values_near(self, b: int, reach: int) -> list[float]:
        n_bins = len(self._bins)
        if 2 * reach + 1 >= n_bins:
            return [v for r in self._bins for v in r.values]
        return [v for d in range(-reach, reach + 1) for v in self._bins[(b + d) % n_bins].values]

    def learn(self, x: float, ts_ms: int) -> None:
        """A value judged normal joins its phase's sample (seasonal references only)."""
        if not self.season.seasonal or not self._pools:
            return
        b = self.season.bin(ts_ms)
        self._bins[b].add(x)
        self._learnt += 1
        self._changed[b] = self._learnt

    def _refresh(self, b: int) -> None:
        """Rebuild the pool of phase ``b`` (or the whole-day pool) if its values changed since it was built."""
        n_bins = len(self._bins)
        reach = self._reach[b]
        near = range(n_bins) if 2 * reach + 1 >= n_bins else [(b + d) % n_bins for d in range(-reach, reach + 1)]
        if self._global:
            # One pool for every phase: rebuilt once per hour-long group of phases at most.
            if b % max(n_bins // 24, 1) or max(self._changed) <= self._built[0]:
                return
            pool = _Pool(self._values_near(b, n_bins))
            self._pools = [pool] * n_bins
            self._built = [self._learnt] * n_bins
            return
        if max(self._changed[i] for i in near) > self._built[b]:
            self._pools[b] = _Pool(self._values_near(b, reach))
            self._built[b] = self._learnt

    def _seasonal_effect(self, whole: _Pool) -> float:
        """How far the phases differ: the spread of the mean normal score of each hour-long group of phases."""
        groups = _groups(len(self._bins))
        means, weights = [], []
        for group in groups:
            values = [v for b in group for v in self._bins[b].values]
            if values:
                means.append(sum(whole.z(v, 8.0) for v in values) / len(values))
                weights.append(len(values))
        total = sum(weights)
        if total == 0 or len(means) < 2:
            return 0.0
        mean = sum(m * w for m, w in zip(means, weights, strict=True)) / total
        return math.sqrt(sum(w * (m - mean) ** 2 for m, w in zip(means, weights, strict=True)) / total)

    def pool(self, ts_ms: int) -> _Pool:
        """The pool of the value's phase; refreshed when event time moves into a new phase.

        Only the newest event time moves the frontier: events of several partitions interleave a
        little out of order, and a late one near a phase boundary must not rebuild pools back and forth.
        """
        b = self.season.bin(ts_ms)
        if ts_ms > self._frontier_ms:
            entered = b != self._frontier_bin
            self._frontier_ms, self._frontier_bin = ts_ms, b
            if entered and self._learnt:
                self._refresh(b)
        return self._pools[b]

    def values_in_time_order(self) -> list[tuple[float, int]]:
        """(value, bin) of the reference, bin by bin: what primes the change detectors."""
        return [(v, b) for b, r in enumerate(self._bins) for v in r.values]


class CategoricalReference:
    """Category shares of one categorical feature per phase; ``expected(ts)`` once :attr:`complete`."""

    def __init__(self, cfg: SeasonThresholds, warmup: int, max_categories: int) -> None:
        self.season = Season.of(cfg)
        self.cfg = cfg
        self.max_categories = max_categories
        self._counts = [Counter[str]() for _ in range(self.season.bins)]
        self._warmup = _Warmup(self.season, warmup)
        self.known: set[str] = set()
        self._shares: list[dict[str, float]] = []
        self.seasonal_effect = 0.0
        self.size = 0

    @property
    def complete(self) -> bool:
        return bool(self._shares)

    def key(self, value: str, other: str) -> str:
        """Bound the state: categories beyond the cap share one bucket."""
        if value in self.known or len(self.known) < self.max_categories:
            return value
        return other

    def add(self, value: str, ts_ms: int, other: str) -> bool:
        key = self.key(value, other)
        self.known.add(key)
        self._counts[self.season.bin(ts_ms)][key] += 1
        self.size += 1
        if self._warmup.add(ts_ms):
            self._finish()
            return True
        return False

    def _finish(self) -> None:
        counts = self._counts
        n_bins = len(counts)
        whole: Counter[str] = Counter()
        for c in counts:
            whole.update(c)
        total_all = sum(whole.values()) or 1
        whole_shares = {c: k / total_all for c, k in whole.items()}
        self.seasonal_effect = self._seasonal_effect(whole_shares) if self.season.seasonal else 0.0
        if self.seasonal_effect < self.cfg.min_effect:
            self._shares = [whole_shares] * n_bins
            return
        for b in range(n_bins):
            reach = self.cfg.pool if self.season.seasonal else 0
            while True:
                pooled: Counter[str] = Counter()
                for d in range(-reach, reach + 1):
                    pooled.update(counts[(b + d) % n_bins])
                if sum(pooled.values()) >= self.cfg.min_pool or 2 * reach + 1 >= n_bins:
                    break
                reach += 1
            total = sum(pooled.values()) or 1
            self._shares.append({c: k / total for c, k in pooled.items()})

    def _seasonal_effect(self, whole: dict[str, float]) -> float:
        """How far the phases differ: the largest total variation distance of an hour-long group from the day."""
        effect = 0.0
        for group in _groups(len(self._counts)):
            pooled: Counter[str] = Counter()
            for b in group:
                pooled.update(self._counts[b])
            n = sum(pooled.values())
            if n >= self.cfg.min_pool:
                tv = 0.5 * sum(abs(pooled.get(c, 0) / n - p) for c, p in whole.items())
                effect = max(effect, tv)
        return effect

    def expected(self, ts_ms: int) -> dict[str, float]:
        return self._shares[self.season.bin(ts_ms)]

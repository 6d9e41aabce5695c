"""Mean and variance drift of one numeric feature.

Three river detectors watch the feature after a warm-up baseline: ADWIN and PageHinkley on the
standardised normal score z of each value (its rank among the baseline values through the normal
quantile: robust to skewed, discrete and mixed distributions; mean shifts), PageHinkley on |z|
(variance shifts). Any of them raises a
candidate; a persistence check then requires the recent window to differ from the baseline by a
minimum effect (mean in reference std units, or a std ratio) within ``confirm_patience`` events,
which turns away the rare spurious cut and tiny, harmless shifts. A confirmed change re-baselines
the detector on the new regime, so one shift gives one signal.
"""

from __future__ import annotations

import bisect
import math
from statistics import NormalDist

from services.drift.config import NumericThresholds
from services.drift.detectors.adwin import AdwinChannel
from services.drift.detectors.base import Signal, confirm, fmt
from services.drift.detectors.baseline import Baseline, RecentWindow, Welford
from services.drift.detectors.page_hinkley import PageHinkleyChannel

ABS_Z_MEAN = math.sqrt(2.0 / math.pi)  # E|z| of a standard normal; only the initial guess


class NumericDriftDetector:
    """Feed raw values with :meth:`update`; a :class:`Signal` comes back once per confirmed change."""

    def __init__(self, feature: str, cfg: NumericThresholds) -> None:
        self.feature = feature
        self.cfg = cfg
        self.seen = 0
        self.changes = 0
        self._start_monitoring_at = 0
        self.reset()

    def reset(self) -> None:
        """Forget the baseline and start a new warm-up (new model live, or after a change)."""
        self.baseline = Baseline(self.cfg.warmup)
        self.recent = RecentWindow(self.cfg.confirm_window)
        self.recent_raw = RecentWindow(self.cfg.confirm_window)  # the same values in the feature's units
        self.monitored = 0
        self.candidate: tuple[str, int] | None = None  # (detector, monitored index when raised)
        self._channels: list[tuple[str, AdwinChannel | PageHinkleyChannel]] = []

    @property
    def warming_up(self) -> bool:
        return not self._channels

    def _start(self) -> None:
        cfg = self.cfg
        mu, sd = self.baseline.mean, self.baseline.std
        self._mu, self._sd = mu, sd
        # Normal scores: a value's mid-rank among the baseline values, through the normal quantile.
        # Real features are skewed, discrete or mixtures (a lognormal dwell time, 15% cross-region
        # distances, window counts); on them the detectors' Gaussian-tuned thresholds raise false
        # alarms. The rank transform makes any stable distribution look standard normal to them,
        # while a shift still moves the scores (up to the baseline's extremes, about 3.3 std).
        self._sorted = sorted(self.baseline.values)
        n = len(self._sorted)
        inv = NormalDist().inv_cdf
        self._scores = [inv(min(max(k / (2 * n), 0.5 / n), 1 - 0.5 / n)) for k in range(2 * n + 1)]
        raw_scores = [self._score(v) for v in self.baseline.values]
        stats = Welford()
        for v in raw_scores:
            stats.update(v)
        self._score_mu = stats.mean
        self._score_sd = stats.std if stats.std > 1e-9 else 1e-9  # a constant feature: any change is large
        zs = [self._z(v) for v in raw_scores]
        abs_stats = Welford()
        for z in zs:
            abs_stats.update(abs(z))
        self._abs_mean = abs_stats.mean if abs_stats.n else ABS_Z_MEAN
        self._abs_std = abs_stats.std or 1.0
        adwin = AdwinChannel(cfg.adwin_delta)
        ph_mean = PageHinkleyChannel(cfg.ph_delta, cfg.ph_threshold, cfg.ph_min_instances, "page_hinkley")
        ph_var = PageHinkleyChannel(
            cfg.variance_ph_delta, cfg.variance_ph_threshold, cfg.ph_min_instances, "page_hinkley_variance"
        )
        # The warm-up primes the detectors' own reference (ADWIN's window, PageHinkley's running mean).
        for z in zs:
            adwin.update(z)
            ph_mean.update(z)
            ph_var.update((abs(z) - self._abs_mean) / self._abs_std)
        self._adwin = adwin
        self._channels = [("adwin", adwin), ("page_hinkley", ph_mean), ("page_hinkley_variance", ph_var)]
        self.baseline.values = []

    def _score(self, x: float) -> float:
        s = self._sorted
        return self._scores[bisect.bisect_left(s, x) + bisect.bisect_right(s, x)]

    def _z(self, score: float) -> float:
        z = (score - self._score_mu) / self._score_sd
        c = self.cfg.clip_z
        return c if z > c else -c if z < -c else z

    def update(self, x: float) -> Signal | None:
        """One finite value of the feature (nulls and NaN go to the quality detector, not here)."""
        self.seen += 1
        if not self._channels:
            if self.baseline.add(x):
                self._start()
            return None
        z = self._z(self._score(x))
        self.monitored += 1
        self.recent.add(z)
        self.recent_raw.add(x)
        a = (abs(z) - self._abs_mean) / self._abs_std
        fired: str | None = None
        for name, ch in self._channels:
            val = a if name == "page_hinkley_variance" else z
            if ch.update(val) and fired is None:
                fired = name
        return confirm(self, fired)

    def _effect(self) -> tuple[float, float]:
        return abs(self.recent.mean), self.recent.std

    def _confirmed(self) -> bool:
        if len(self.recent) < min(self.cfg.confirm_window, 30):
            return False
        effect, ratio = self._effect()
        r = self.cfg.min_std_ratio
        return effect >= self.cfg.min_effect_std or ratio >= r or (ratio > 0 and ratio <= 1.0 / r)

    def _after_start(self) -> int:
        """The part of the recent window after its most likely change point (max CUSUM deviation).

        The recent window straddles the change when the alarm is fast; the evidence should describe
        the new regime, not a blend. Tried on z (a mean change), then on |z| (a spread change).
        """
        zs = list(self.recent.values)
        best_k, best = 0, 0.0
        for series in (zs, [abs(z) for z in zs]):
            n = len(series)
            m = sum(series) / n
            sd = math.sqrt(sum((z - m) ** 2 for z in series) / n) or 1.0
            acc = 0.0
            for k, z in enumerate(series[:-5], start=1):
                acc += z - m
                score = abs(acc) / sd / (k * (n - k) / n) ** 0.5
                if score > best:
                    best_k, best = k, score
        return best_k

    def _signal(self, detector: str, raised_at: int) -> Signal:
        mu, sd = self._mu, self._sd
        k = self._after_start()
        seg = list(self.recent.values)[k:]  # normal scores: decide what changed (robust to outliers)
        z_shift = sum(seg) / len(seg)
        z_ratio = math.sqrt(sum((z - z_shift) ** 2 for z in seg) / max(len(seg) - 1, 1))
        raw = list(self.recent_raw.values)[k:]  # the feature's units: say how much
        after_mean = sum(raw) / len(raw)
        after_std = math.sqrt(sum((v - after_mean) ** 2 for v in raw) / max(len(raw) - 1, 1))
        shift = (after_mean - mu) / sd
        ratio = after_std / sd
        if abs(z_shift) >= self.cfg.min_effect_std and abs(math.log(max(z_ratio, 1e-9))) < abs(z_shift):
            what = f"mean moved {shift:+.2f} std ({fmt(mu)} -> {fmt(after_mean)})"
        else:
            what = f"spread changed x{ratio:.2f} (std {fmt(sd)} -> {fmt(after_std)})"
        return Signal(
            kind="data_drift",
            feature=self.feature,
            detector=detector,
            summary=f"Feature '{self.feature}' drifted: {what}, flagged by {detector}.",
            evidence={
                "feature": self.feature,
                "detector": detector,
                "before_mean": fmt(mu),
                "before_std": fmt(sd),
                "after_mean": fmt(after_mean),
                "after_std": fmt(after_std),
                "shift_std": f"{shift:+.3f}",
                "std_ratio": f"{ratio:.3f}",
                "reference_window": str(self.cfg.warmup),
                "recent_window": str(len(seg)),
                "adwin_width": str(self._adwin.width),
                "events_since_alarm": str(self.monitored - raised_at),
                "events_monitored": str(self.monitored),
            },
        )

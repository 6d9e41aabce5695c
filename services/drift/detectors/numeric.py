"""Mean and variance drift of one numeric feature.

Three river detectors watch the feature once its reference is complete: ADWIN and PageHinkley on
the standardised normal score z of each value (its rank among the reference values of the same
phase of the daily cycle, through the normal quantile: robust to skewed, discrete and mixed
distributions and to seasonality; mean shifts), PageHinkley on |z| (variance shifts). Any of them
raises a candidate; a persistence check then requires the recent window to differ from the
reference by a minimum effect (mean in reference std units, or a std ratio) within
``confirm_patience`` events, which turns away the rare spurious cut and tiny, harmless shifts. A
confirmed change learns a new reference on the new regime, so one shift gives one signal; a change
the monitor judges to be bad data (units: skew) keeps the reference, so it keeps being reported.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from services.drift.config import NumericThresholds
from services.drift.detectors.base import Detector, DetectorContext, Signal, confirm, fmt
from services.drift.stats.adwin import AdwinChannel
from services.drift.stats.baseline import RecentWindow, Welford
from services.drift.stats.page_hinkley import PageHinkleyChannel
from services.drift.stats.season import NumericReference, _Pool

ABS_Z_MEAN = math.sqrt(2.0 / math.pi)  # E|z| of a standard normal; only the initial guess
MAX_BLOCK = 64  # at most this many consecutive values make one observation of the detectors
CALIBRATION_Z = 4.5  # a confirmed change strays this many times further than normal traffic's windows
TAIL_MARGIN = 1.3  # ...and further than the furthest normal window by this factor
MIN_CALIBRATION_WINDOWS = 10  # reference windows needed to measure how far normal traffic strays
LIVE_CALIBRATION_WINDOWS = 150  # live windows after the reference that calibrate the bars further
MAX_EFFECT_BAR = 0.75  # live calibration never asks more of a mean shift (std units)...
MAX_RATIO_BAR = 1.8  # ...or of a spread change
ARRIVAL_SAMPLE = 4096  # the newest warm-up values in arrival order: their autocorrelation sizes a block


def block_size(zs: list[float], max_block: int = MAX_BLOCK) -> int:
    """Consecutive values per roughly independent observation: the batch-means variance inflation.

    For independent values the variance of a mean of k values is var/k; correlated values inflate it
    by their integrated autocorrelation time, which the largest k * var(block means) / var estimates.
    Below 2 (noise of the estimate on independent values) a block is one value.
    """
    n = len(zs)
    if n < 40:
        return 1
    var = _pvar(zs)
    if var <= 0:
        return 1
    tau, k = 1.0, 2
    while k <= max_block and n // k >= 20:
        means = [sum(zs[i : i + k]) / k for i in range(0, n - k + 1, k)]
        tau = max(tau, k * _pvar(means) / var)
        k *= 2
    return 1 if tau < 2.0 else min(max_block, math.ceil(tau))


TRIM = 0.1  # share of the values cut at each end before a window's mean and spread are taken


def _trimmed(xs: list[float]) -> tuple[float, float]:
    """Mean and standard deviation of ``xs`` without its lowest and highest ``TRIM`` share."""
    s = sorted(xs)
    k = int(len(s) * TRIM)
    core = s[k : len(s) - k] or s
    m = sum(core) / len(core)
    return m, math.sqrt(sum((x - m) ** 2 for x in core) / len(core))


def _bar(xs: list[float]) -> float:
    """What a change must exceed, from normal windows: ``CALIBRATION_Z`` times their root mean square, or
    ``TAIL_MARGIN`` times the largest one (window statistics of bursty features have heavy tails)."""
    rms = math.sqrt(sum(x * x for x in xs) / len(xs))
    return max(CALIBRATION_Z * rms, TAIL_MARGIN * max(abs(x) for x in xs))


def _pvar(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return sum((x - m) ** 2 for x in xs) / len(xs)


def _block_sd(xs: list[float], b: int) -> float:
    """Standard deviation of the means of consecutive blocks of ``b`` values (floored)."""
    means = [sum(xs[i : i + b]) / b for i in range(0, len(xs) - b + 1, b)]
    if len(means) < 2:
        return 1.0 / math.sqrt(b)
    sd = math.sqrt(_pvar(means))
    return sd if sd > 1e-9 else 1e-9


class NumericDriftDetector(Detector[float, NumericThresholds]):
    """Mean and variance drift of a numeric feature: fed finite values, one signal per confirmed change.

    Uses ``context.season`` (references per phase of the daily cycle).
    """

    name = "numeric"
    config = NumericThresholds

    def __init__(self, feature: str, cfg: NumericThresholds, context: DetectorContext | None = None) -> None:
        super().__init__(feature, cfg, context)
        self.season = (context or DetectorContext()).season
        self.seen = 0
        self.changes = 0
        # Reclassifies a confirmed change before the detector settles (the monitor turns a change of
        # units into skew: bad data, which must not become the new reference), or defers it (None) until
        # it can tell; the monitor then calls :meth:`adopt` if it was drift after all.
        self.judge: Callable[[Signal, list[float]], Signal | None] | None = None
        self.reset()

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["judge"] = None  # a callback of the monitor, bound again after a restore
        return state

    def reset(self) -> None:
        """Forget the reference and learn a new one (after a change: the new regime is normal)."""
        self.reference = NumericReference(self.feature, self.season, self.cfg.warmup)
        self._arrival: deque[tuple[float, int]] = deque(maxlen=ARRIVAL_SAMPLE)  # (value, ts) as they came
        self._channels: list[tuple[str, AdwinChannel | PageHinkleyChannel]] = []
        self.block = 1
        self.hold = False  # set while the values are known bad (skew): they must not become the reference
        self.effect_bar = self.cfg.min_effect_std
        self.log_ratio_bar = math.log(self.cfg.min_std_ratio)
        self.ref_spread = 1.0
        self._live_means: list[float] = []
        self._live_logs: list[float] = []
        self._clean_run = 0
        self._clear_recent()

    def _clear_recent(self) -> None:
        n = self.cfg.confirm_window * self.block
        self.recent = RecentWindow(n)
        self.recent_raw = RecentWindow(n)  # the same values in the feature's units
        self.recent_pools: deque[_Pool] = deque(maxlen=n)  # each value's phase reference
        self.monitored = 0
        self.candidate: tuple[str, int] | None = None  # (detector, monitored index when raised)
        self._acc_z = self._acc_a = 0.0
        self._acc_n = 0

    @property
    def patience(self) -> int:
        return self.cfg.confirm_patience * self.block

    @property
    def warming_up(self) -> bool:
        return not self._channels

    def _start(self) -> None:
        """Build the change detectors on the complete reference, primed with its own normal scores.

        Consecutive values of many real features are not independent (a popular job is viewed in
        waves, a heavy user browses in sessions), while the change detectors assume they are. The
        reference measures how many consecutive values make one independent observation (batch
        means over the values in arrival order), and the detectors see the means of such blocks,
        scaled to unit variance; for an independent feature a block is one value.
        """
        cfg, ref = self.cfg, self.reference
        self._mu, self._sd = ref.overall_mean, ref.overall_sd or 1e-9
        zs = [ref._pools[b].z(v, cfg.clip_z) for v, b in ref.values_in_time_order()]
        abs_stats = Welford()
        for z in zs:
            abs_stats.update(abs(z))
        self._abs_mean = abs_stats.mean if abs_stats.n else ABS_Z_MEAN
        self._abs_std = abs_stats.std or 1.0
        arrival = [ref.pool(ts).z(v, cfg.clip_z) for v, ts in self._arrival]
        self.block = block_size(arrival, MAX_BLOCK)
        self._arrival.clear()
        b = self.block
        self._sd_bz = _block_sd([z for z in zs], b)
        self._sd_ba = _block_sd([(abs(z) - self._abs_mean) / self._abs_std for z in zs], b)
        self._calibrate(zs)
        self._clear_recent()
        adwin = AdwinChannel(cfg.adwin_delta)
        ph_mean = PageHinkleyChannel(cfg.ph_delta, cfg.ph_threshold, cfg.ph_min_instances, "page_hinkley")
        ph_var = PageHinkleyChannel(
            cfg.variance_ph_delta, cfg.variance_ph_threshold, cfg.ph_min_instances, "page_hinkley_variance"
        )
        # The reference primes the detectors' own state (ADWIN's window, PageHinkley's running mean).
        for i in range(0, len(zs) - b + 1, b):
            chunk = zs[i : i + b]
            bz = sum(chunk) / b / self._sd_bz
            ba = sum((abs(z) - self._abs_mean) / self._abs_std for z in chunk) / b / self._sd_ba
            adwin.update(bz)
            ph_mean.update(bz)
            ph_var.update(ba)
        self._adwin = adwin
        self._channels = [("adwin", adwin), ("page_hinkley", ph_mean), ("page_hinkley_variance", ph_var)]

    def _calibrate(self, zs: list[float]) -> None:
        """How a confirmation window of normal traffic looks, and how far it strays: the bars to clear.

        The window statistics are robust (trimmed of ``TRIM`` of its values at each end): a change
        must move the bulk of the distribution, not a few extreme values (a heavy user's session, a
        popular job's wave in a window count). Bursty features also move their window statistics
        more than independent values would; the reference, cut into windows of the confirmation size,
        measures that, and a change must exceed ``CALIBRATION_Z`` times it (never less than
        ``min_effect_std`` and ``min_std_ratio``).
        """
        n = self.cfg.confirm_window * self.block
        self.effect_bar = self.cfg.min_effect_std
        self.log_ratio_bar = math.log(self.cfg.min_std_ratio)
        self.ref_spread = _trimmed(zs)[1] or 1.0
        windows = [zs[i : i + n] for i in range(0, len(zs) - n + 1, n)]
        if len(windows) < MIN_CALIBRATION_WINDOWS:
            return
        stats = [_trimmed(w) for w in windows]
        means = [m for m, _ in stats]
        logs = [math.log(max(sd, 1e-9) / self.ref_spread) for _, sd in stats]
        self.effect_bar = max(self.effect_bar, CALIBRATION_Z * math.sqrt(_pvar(means)))
        self.log_ratio_bar = max(self.log_ratio_bar, CALIBRATION_Z * math.sqrt(_pvar(logs)))

    def _observe_window(self) -> None:
        """Calibrate on live traffic too: how far a window strays from the reference of past days.

        The reference's own windows cannot show how one day differs from the others at the same
        hour (fewer heavy users today), which is normal too. The first ``LIVE_CALIBRATION_WINDOWS``
        complete windows without a suspicion in them raise the bars to ``CALIBRATION_Z`` times their
        root mean square, never above ``MAX_EFFECT_BAR`` (a slow drift in that time is still caught).
        """
        n = self.cfg.confirm_window * self.block
        if self.candidate is not None:
            self._clean_run = 0
            return
        self._clean_run += 1
        if self._clean_run < n or len(self._live_means) >= LIVE_CALIBRATION_WINDOWS:
            return
        self._clean_run = 0
        mean, spread = _trimmed(list(self.recent.values))
        log_ratio = math.log(max(spread, 1e-9) / self.ref_spread)
        if abs(mean) >= self.effect_bar or abs(log_ratio) >= self.log_ratio_bar:
            return  # a window past the bars may be a change in the making: it calibrates nothing
        self._live_means.append(mean)
        self._live_logs.append(log_ratio)
        if len(self._live_means) < MIN_CALIBRATION_WINDOWS:
            return
        self.effect_bar = max(self.effect_bar, min(MAX_EFFECT_BAR, _bar(self._live_means)))
        self.log_ratio_bar = max(self.log_ratio_bar, min(math.log(MAX_RATIO_BAR), _bar(self._live_logs)))

    def _rearm(self) -> None:
        """Keep the reference, restart the detectors: what was seen is not the new normal."""
        self._clear_recent()
        self._start()

    def update(self, x: float, ts_ms: int = 0) -> Signal | None:
        """One finite value of the feature at event time ``ts_ms`` (nulls and NaN go to the quality detector)."""
        self.seen += 1
        if not self._channels:
            self._arrival.append((x, ts_ms))
            if self.reference.add(x, ts_ms):
                self._start()
            return None
        pool = self.reference.pool(ts_ms)
        z = pool.z(x, self.cfg.clip_z)
        self.monitored += 1
        self.recent.add(z)
        self.recent_raw.add(x)
        self.recent_pools.append(pool)
        if self.candidate is None and not self.hold:
            self.reference.learn(x, ts_ms)  # nothing suspected: this value is what normal looks like
        self._observe_window()
        self._acc_z += z
        self._acc_a += (abs(z) - self._abs_mean) / self._abs_std
        self._acc_n += 1
        fired: str | None = None
        if self._acc_n >= self.block:
            bz = self._acc_z / self._acc_n / self._sd_bz
            ba = self._acc_a / self._acc_n / self._sd_ba
            self._acc_z = self._acc_a = 0.0
            self._acc_n = 0
            for name, ch in self._channels:
                if ch.update(ba if name == "page_hinkley_variance" else bz) and fired is None:
                    fired = name
        return confirm(self, fired)

    def _settle(self, signal: Signal) -> Signal | None:
        changed = list(self.recent_raw.values)[self._after_start() :]
        judged = self.judge(signal, changed) if self.judge else signal
        if judged is None or judged.kind == "skew":
            self.hold = True  # bad data, or not known yet: keep the reference, learn nothing
            self._rearm()
        else:
            self.reset()
        return judged

    def adopt(self) -> None:
        """A deferred change turned out to be drift: the new regime becomes normal."""
        self.reset()

    def _effect(self) -> tuple[float, float]:
        """(|trimmed mean|, trimmed spread relative to the reference's) of the recent normal scores."""
        mean, spread = _trimmed(list(self.recent.values))
        return abs(mean), spread / self.ref_spread

    def _confirmed(self) -> bool:
        if len(self.recent) < min(self.cfg.confirm_window, 30) * self.block:
            return False
        effect, ratio = self._effect()
        return effect >= self.effect_bar or (ratio > 0 and abs(math.log(ratio)) >= self.log_ratio_bar)

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
        k = self._after_start()
        pools = list(self.recent_pools)[k:] or list(self.recent_pools)
        # "Before" is the reference of the same phases as the changed values, not a daily average.
        mu = sum(p.mean for p in pools) / len(pools)
        sd = sum(p.sd for p in pools) / len(pools) or self._sd
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
                "reference_window": str(self.reference.size),
                "recent_window": str(len(seg)),
                "adwin_width": str(self._adwin.width),
                "events_since_alarm": str(self.monitored - raised_at),
                "events_monitored": str(self.monitored),
                "block": str(self.block),
                "effect_bar_std": f"{self.effect_bar:.3f}",
            },
        )

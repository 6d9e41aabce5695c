"""Concept drift on the prediction error stream (a prediction joined with its delayed label).

The error rate of the last labels is tested against the error rate the reference expects for the
same phases of the day, with a two-proportion z-test at four window sizes (``confirm_window`` x1,
x2.5, x5, x25): a short window catches a large degradation within a couple of hundred labels, a long one a
small but lasting one. A window signals when its rate is above the expected one by ``confirm_z``
standard errors and by ``min_increase``: only a worse model is an incident. DDM
(river.drift.binary.DDM) and ADWIN watch the 0/1 errors and raise candidates cheaply; while one is
pending the short window is tested at every label, else every window every ``CHECK_EVERY`` labels.

Why the reference is careful: false alarms came from a reference rate measured on a short warm-up
that happened to be low, from error rates that move with the hour of day, and from errors that come
in runs (the same members and jobs return). So the warm-up is long (``warmup`` labels, and with a
daily season one whole period), the reference keeps growing with every label that has left the
longest window, it is kept per phase of the day, the z-test counts the uncertainty of both rates,
and each window's variance is inflated by the autocorrelation the reference shows at that size.

After a signal the reference is kept (it is the model's healthy error rate): every ``persist_every``
labels the last ``recovery_window`` are tested again, and a degradation that persists is signalled
again (the monitor updates the open incident), while a return to the expected rate is reported as a
recovery and re-arms the detector, so the next degradation raises a new incident. Only a new live
model resets the reference. Measured with ``python -m bench.drift.evaluate``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

from river.drift import ADWIN
from river.drift.binary import DDM

from services.drift.config import ErrorThresholds
from services.drift.detectors.base import Detector, DetectorContext, Signal
from services.drift.stats.season import Season, _Warmup

PRIOR_LABELS = 50  # a phase's error rate leans on the overall rate until it has this many labels
ERROR_PHASES = 96
INFLATION_EVERY = 5000  # labels between two estimates of the error stream's autocorrelation
CHECK_EVERY = 25  # labels between two tests of every window when no candidate is pending
SCALES = (1.0, 2.5, 5.0, 25.0)  # window sizes, in confirm_window units
SHORT_WINDOW = 1000  # below this many labels the error count's right tail is long: the z-test is made stricter

Item = tuple[int, int, float, int]  # (error, phase, expected error rate when it came, labels behind that rate)


class _Window:
    """The last ``size`` labels with running sums of errors and expected errors."""

    __slots__ = ("basis", "err", "exp", "items", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: deque[Item] = deque()
        self.err = 0
        self.exp = 0.0
        self.basis = 0

    def add(self, item: Item) -> Item | None:
        self.items.append(item)
        self.err += item[0]
        self.exp += item[2]
        self.basis += item[3]
        if len(self.items) <= self.size:
            return None
        old = self.items.popleft()
        self.err -= old[0]
        self.exp -= old[2]
        self.basis -= old[3]
        return old

    @property
    def full(self) -> bool:
        return len(self.items) >= self.size

    @property
    def rate(self) -> float:
        return self.err / len(self.items) if self.items else 0.0

    @property
    def expected(self) -> float:
        return self.exp / len(self.items) if self.items else 0.0

    @property
    def reference_labels(self) -> float:
        """How many reference labels the expected rates of this window rest on (per label, on average)."""
        return self.basis / len(self.items) if self.items else 0.0


class ErrorRateDetector(Detector[bool, ErrorThresholds]):
    """Concept drift of one model: fed whether each labelled prediction was wrong.

    Its ``feature`` is the model's name. Uses ``context.season`` (error rates expected per phase).
    """

    name = "error_rate"
    config = ErrorThresholds
    # Event time of the newest label seen, and of the newest one when the degradation was confirmed: after
    # a signal only labels of newer traffic judge whether it persists or recovered. Labels arrive out of
    # event order (they wait for their prediction, partitions are read out of step), and late labels of
    # the traffic before the change would otherwise read as a recovery. Class defaults: older checkpoints.
    newest_ts: int = 0
    degraded_after_ts: int = 0

    def __init__(self, feature: str, cfg: ErrorThresholds, context: DetectorContext | None = None) -> None:
        super().__init__(feature, cfg, context)
        base = Season.of((context or DetectorContext()).season)
        # Error rates move with the hour too (who browses when, and hour-of-day effects that step every
        # hour): quarter-hour phases, each pooled with its neighbours to keep its estimate steady.
        self.season = Season(base.period_ms, ERROR_PHASES if base.seasonal else 1)
        self.changes = 0
        self.reset()

    # -------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget everything: a new model is judged on its own reference error rate."""
        self.reference: deque[tuple[int, int]] = deque()  # (error, phase)
        self.ref_err = 0
        self.phase_n = [0] * self.season.bins
        self.phase_err = [0] * self.season.bins
        self._warmup = _Warmup(self.season, self.cfg.warmup)
        self.learnt = False
        self.monitored = 0
        self.inflation: dict[int, float] = {}
        self._rearm()

    def _rearm(self) -> None:
        """Watch for a new degradation against the kept reference."""
        self.windows = [_Window(int(self.cfg.confirm_window * k)) for k in SCALES]
        self.candidate: tuple[str, int] | None = None
        self.last_z = 0.0
        self.degraded = False
        self.tail = _Window(self.cfg.recovery_window)
        self.since_check = 0
        self._ddm = DDM(
            warm_start=self.cfg.ddm_warm_start,
            warning_threshold=self.cfg.ddm_warning,
            drift_threshold=self.cfg.ddm_drift,
        )
        self._adwin = ADWIN(delta=self.cfg.adwin_delta)

    @property
    def warming_up(self) -> bool:
        return not self.learnt

    @property
    def base_rate(self) -> float:
        return self.ref_err / len(self.reference) if self.reference else 0.0

    def _to_reference(self, e: int, b: int) -> None:
        self.reference.append((e, b))
        self.ref_err += e
        self.phase_n[b] += 1
        self.phase_err[b] += e
        limit = max(self.cfg.reference_max, self.cfg.warmup)
        while len(self.reference) > limit:
            oe, ob = self.reference.popleft()
            self.ref_err -= oe
            self.phase_n[ob] -= 1
            self.phase_err[ob] -= oe

    def phase_rate(self, b: int) -> float:
        """The reference error rate of one phase and its neighbours, shrunk towards the overall rate."""
        return self._phase(b)[0]

    def _phase(self, b: int) -> tuple[float, int]:
        """(error rate, labels it rests on) of phase ``b`` pooled with its neighbours."""
        bins = self.season.bins
        near = ((b - 1) % bins, b, (b + 1) % bins) if bins > 2 else (b,)
        n = sum(self.phase_n[i] for i in near)
        err = sum(self.phase_err[i] for i in near)
        return (err + PRIOR_LABELS * self.base_rate) / (n + PRIOR_LABELS), n + PRIOR_LABELS

    def _estimate_inflation(self) -> None:
        """How much more a window's error rate varies than independent labels would (batch means).

        The reference's residuals from its phase rates, cut in windows of each tested size, measure
        it; a size too long to measure takes the value of the longest measurable one.
        """
        rates = [self.phase_rate(b) for b in range(self.season.bins)]
        residuals = [e - rates[b] for e, b in self.reference]
        n = len(residuals)
        var = sum(r * r for r in residuals) / n if n else 0.0
        last = 1.0
        for k in sorted({w.size for w in self.windows} | {self.cfg.recovery_window}):
            if var > 0 and n // k >= 10:
                means = [sum(residuals[i : i + k]) / k for i in range(0, n - k + 1, k)]
                mean = sum(means) / len(means)
                last = max(1.0, k * sum((m - mean) ** 2 for m in means) / len(means) / var)
            self.inflation[k] = last

    # -------------------------------------------------------------- stream
    def update(self, error: bool, ts_ms: int = 0) -> Signal | None:
        e = 1 if error else 0
        b = self.season.bin(ts_ms)
        if not self.learnt:
            self._ddm.update(error)
            self._adwin.update(float(e))
            self._to_reference(e, b)
            self.learnt = self._warmup.add(ts_ms)
            if self.learnt:
                self._estimate_inflation()
            return None
        rate, basis = self._phase(b)
        item = (e, b, rate, basis)
        if self.degraded:
            if 0 < ts_ms <= self.degraded_after_ts:
                return None  # a late label of the traffic the signal already judged
            return self._still_degraded(item)
        self.newest_ts = max(self.newest_ts, ts_ms)
        self._ddm.update(error)
        self._adwin.update(float(e))
        self.monitored += 1
        if self.monitored % INFLATION_EVERY == 0:
            self._estimate_inflation()
        for w in self.windows[:-1]:
            w.add(item)
        old = self.windows[-1].add(item)
        if old is not None:
            self._to_reference(old[0], old[1])  # lags the longest window: a change is tested before learnt
        fired = "ddm" if self._ddm.drift_detected else "adwin" if self._adwin.drift_detected else None
        if fired and self.candidate is None:
            self.candidate = (fired, self.monitored)
        if self.candidate is not None and self.monitored - self.candidate[1] > self.cfg.confirm_patience:
            self.candidate = None
        self.since_check += 1
        if self.candidate is not None:
            hit = self._test(self.windows[:1])
        elif self.since_check >= CHECK_EVERY:
            self.since_check = 0
            hit = self._test(self.windows)
        else:
            hit = None
        if hit is None:
            return None
        detector = self.candidate[0] if self.candidate else f"rate test over {hit.size} labels"
        raised_at = self.candidate[1] if self.candidate else self.monitored
        signal = self._signal(detector, raised_at, hit)
        self.changes += 1
        return self._settle(signal, hit)

    def _z(self, p1: float, p0: float, n: int, window: int, m: float) -> float:
        """Two-proportion z of a recent rate ``p1`` over ``n`` labels against the expected rate ``p0``.

        ``m`` is how many reference labels ``p0`` rests on: with a season, the labels of the same phases
        (one day of them is far fewer than the whole reference), so its own uncertainty counts too.
        """
        m = max(m, 1.0)
        p0 = min(max(p0, 1.0 / (m + 1)), 1 - 1.0 / (m + 1))
        inflation = self.inflation.get(window, 1.0)
        # In a short window the larger of the two binomial variances: its error count has a long right
        # tail, which the variance at p0 alone understates (false alarms at z 4 in a stable stream).
        var = max(p0 * (1 - p0), p1 * (1 - p1)) if n < SHORT_WINDOW else p0 * (1 - p0)
        return (p1 - p0) / math.sqrt(var * inflation * (1.0 / n + 1.0 / m))

    def _test(self, windows: list[_Window]) -> _Window | None:
        """The first full window whose error rate is significantly and materially above the expected one."""
        for w in windows:
            if not w.full or not self.reference:
                continue
            p1, p0 = w.rate, w.expected
            if p1 - p0 < self.cfg.min_increase:
                continue
            z = self._z(p1, p0, len(w.items), w.size, w.reference_labels)
            if z >= self.cfg.confirm_z:
                self.last_z = z
                return w
        return None

    def _settle(self, signal: Signal, hit: _Window) -> Signal:
        """The reference stays: it is what this model did when healthy, the yardstick of its recovery."""
        self.degraded = True
        self.degraded_after_ts = self.newest_ts
        self.tail = _Window(self.cfg.recovery_window)
        for item in list(hit.items)[-self.cfg.recovery_window :]:
            self.tail.add(item)
        self.since_check = 0
        return signal

    def _still_degraded(self, item: Item) -> Signal | None:
        """While degraded: re-signal a persisting degradation, or report the recovery, every ``persist_every``."""
        self.tail.add(item)
        self.since_check += 1
        if self.since_check < self.cfg.persist_every:
            return None
        self.since_check = 0
        n = len(self.tail.items)
        p1, p0 = self.tail.rate, self.tail.expected
        self.last_z = self._z(p1, p0, n, self.cfg.recovery_window, self.tail.reference_labels)
        if self.last_z >= self.cfg.confirm_z and p1 - p0 >= self.cfg.min_increase:
            return self._state_signal("persisting", p0, p1, n)
        if self.last_z <= self.cfg.clear_z:
            signal = self._state_signal("recovered", p0, p1, n)
            self._rearm()
            return signal
        return None

    # -------------------------------------------------------------- signals
    def _state_signal(self, phase: Literal["persisting", "recovered"], p0: float, p1: float, n: int) -> Signal:
        how = "is still worse" if phase == "persisting" else "is back to normal"
        return Signal(
            kind="concept_drift",
            feature=self.feature,
            detector="error_rate",
            summary=f"Model '{self.feature}' {how}: error rate {p0:.1%} -> {p1:.1%} over the last {n} labels.",
            evidence={
                "feature": "prediction_error",
                "model": self.feature,
                "detector": "error_rate",
                "before_error_rate": f"{p0:.4f}",
                "after_error_rate": f"{p1:.4f}",
                "reference_window": str(len(self.reference)),
                "recent_window": str(n),
                "z": f"{self.last_z:.2f}",
            },
            severity="critical" if phase == "persisting" else "info",
            phase=phase,
        )

    def _signal(self, detector: str, raised_at: int, hit: _Window) -> Signal:
        p0, p1 = hit.expected, hit.rate
        return Signal(
            kind="concept_drift",
            feature=self.feature,
            detector=detector,
            summary=(
                f"Model '{self.feature}' got worse: error rate {p0:.1%} -> {p1:.1%} over the last "
                f"{len(hit.items)} labels, flagged by {detector}."
            ),
            evidence={
                "feature": "prediction_error",
                "model": self.feature,
                "detector": detector,
                "before_error_rate": f"{p0:.4f}",
                "after_error_rate": f"{p1:.4f}",
                "before_mean": f"{p0:.4f}",
                "after_mean": f"{p1:.4f}",
                "before_std": f"{math.sqrt(p0 * (1 - p0)):.4f}",
                "after_std": f"{math.sqrt(p1 * (1 - p1)):.4f}",
                "reference_window": str(len(self.reference)),
                "recent_window": str(len(hit.items)),
                "z": f"{self.last_z:.2f}",
                "inflation": f"{self.inflation.get(hit.size, 1.0):.2f}",
                "adwin_width": str(int(self._adwin.width)),
                "events_since_alarm": str(self.monitored - raised_at),
            },
            severity="critical",
        )

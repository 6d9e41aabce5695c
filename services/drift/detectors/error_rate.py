"""Concept drift on the prediction error stream (a prediction joined with its delayed label).

DDM (river.drift.binary.DDM) and ADWIN watch the 0/1 errors after a warm-up and raise candidates
cheaply; a candidate becomes a signal only when a two-proportion z-test says the recent window's
error rate is above the reference error rate by ``confirm_z`` standard errors (and by
``min_increase``): only a worse model is an incident.

Why the reference is careful: the false alarms this test once let through all came from a reference
rate measured on a short warm-up that happened to be low (0.064 measured for a true 0.076), met by
a local burst of errors. So the warm-up is long (2000 labels by default), the reference keeps
growing afterwards with every event that has left the recent window while no candidate is pending
(a sliding ``reference_max`` events, lagging the recent window so a change is never absorbed
before it is tested), and the test's standard error counts the uncertainty of both rates.
Measured with ``python -m bench.drift.evaluate``.
"""

from __future__ import annotations

import math
from collections import deque

from river.drift import ADWIN
from river.drift.binary import DDM

from services.drift.config import ErrorThresholds
from services.drift.detectors.base import Signal, confirm


class ErrorRateDetector:
    def __init__(self, target: str, cfg: ErrorThresholds) -> None:
        self.target = target
        self.cfg = cfg
        self.changes = 0
        self.reset()

    def reset(self) -> None:
        self.reference: deque[int] = deque()
        self.ref_err = 0
        self.monitored = 0
        self.recent: deque[int] = deque()
        self.recent_err = 0
        self.candidate: tuple[str, int] | None = None
        self.last_z = 0.0
        self._ddm = DDM(
            warm_start=self.cfg.ddm_warm_start,
            warning_threshold=self.cfg.ddm_warning,
            drift_threshold=self.cfg.ddm_drift,
        )
        self._adwin = ADWIN(delta=self.cfg.adwin_delta)

    @property
    def base_n(self) -> int:
        return len(self.reference)

    @property
    def warming_up(self) -> bool:
        return self.monitored == 0 and len(self.reference) < self.cfg.warmup

    @property
    def base_rate(self) -> float:
        return self.ref_err / len(self.reference) if self.reference else 0.0

    @property
    def recent_rate(self) -> float:
        return self.recent_err / len(self.recent) if self.recent else 0.0

    def _to_reference(self, e: int) -> None:
        self.reference.append(e)
        self.ref_err += e
        if len(self.reference) > max(self.cfg.reference_max, self.cfg.warmup):
            self.ref_err -= self.reference.popleft()

    def update(self, error: bool) -> Signal | None:
        e = 1 if error else 0
        self._ddm.update(error)
        self._adwin.update(float(e))
        if self.warming_up:
            self._to_reference(e)
            return None
        self.monitored += 1
        self.recent.append(e)
        self.recent_err += e
        if len(self.recent) > self.cfg.confirm_window:
            old = self.recent.popleft()
            self.recent_err -= old
            if self.candidate is None:  # a pending candidate may be the change: keep it out
                self._to_reference(old)
        fired = "ddm" if self._ddm.drift_detected else "adwin" if self._adwin.drift_detected else None
        return confirm(self, fired)

    def _confirmed(self) -> bool:
        """Two-proportion z-test of the recent window against the reference (both rates are estimates)."""
        n, m = len(self.recent), len(self.reference)
        if n < self.cfg.confirm_window or m == 0:
            return False
        p0 = min(max(self.base_rate, 1.0 / (m + 1)), 1 - 1.0 / (m + 1))
        p1 = self.recent_rate
        if p1 - p0 < self.cfg.min_increase:
            return False
        self.last_z = (p1 - p0) / math.sqrt(p0 * (1 - p0) * (1.0 / n + 1.0 / m))
        return self.last_z >= self.cfg.confirm_z

    def _signal(self, detector: str, raised_at: int) -> Signal:
        p0, p1 = self.base_rate, self.recent_rate
        return Signal(
            kind="concept_drift",
            feature=self.target,
            detector=detector,
            summary=(
                f"Model '{self.target}' got worse: error rate {p0:.1%} -> {p1:.1%} on labelled predictions, "
                f"flagged by {detector}."
            ),
            evidence={
                "feature": "prediction_error",
                "model": self.target,
                "detector": detector,
                "before_error_rate": f"{p0:.4f}",
                "after_error_rate": f"{p1:.4f}",
                "before_mean": f"{p0:.4f}",
                "after_mean": f"{p1:.4f}",
                "before_std": f"{math.sqrt(p0 * (1 - p0)):.4f}",
                "after_std": f"{math.sqrt(p1 * (1 - p1)):.4f}",
                "reference_window": str(len(self.reference)),
                "recent_window": str(len(self.recent)),
                "z": f"{self.last_z:.2f}",
                "adwin_width": str(int(self._adwin.width)),
                "events_since_alarm": str(self.monitored - raised_at),
            },
            severity="critical",
        )

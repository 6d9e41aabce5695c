"""Concept drift on the prediction error stream (a prediction joined with its delayed label).

DDM (river.drift.binary.DDM) and ADWIN watch the 0/1 errors after a warm-up that measures the
baseline error rate; a candidate is confirmed when the recent error rate exceeds the baseline by
``confirm_z`` binomial standard errors and by ``min_increase`` (only a worse model is an incident).
"""

from __future__ import annotations

import math

from river.drift import ADWIN
from river.drift.binary import DDM

from services.drift.config import ErrorThresholds
from services.drift.detectors.base import Signal
from services.drift.detectors.baseline import RecentWindow


class ErrorRateDetector:
    def __init__(self, target: str, cfg: ErrorThresholds) -> None:
        self.target = target
        self.cfg = cfg
        self.changes = 0
        self.reset()

    def reset(self) -> None:
        self.base_n = 0
        self.base_err = 0
        self.monitored = 0
        self.recent = RecentWindow(self.cfg.confirm_window)
        self.candidate: tuple[str, int] | None = None
        self._ddm = DDM(
            warm_start=self.cfg.ddm_warm_start,
            warning_threshold=self.cfg.ddm_warning,
            drift_threshold=self.cfg.ddm_drift,
        )
        self._adwin = ADWIN(delta=self.cfg.adwin_delta)

    @property
    def warming_up(self) -> bool:
        return self.base_n < self.cfg.warmup

    @property
    def base_rate(self) -> float:
        return self.base_err / self.base_n if self.base_n else 0.0

    def update(self, error: bool) -> Signal | None:
        e = 1.0 if error else 0.0
        self._ddm.update(error)
        self._adwin.update(e)
        if self.base_n < self.cfg.warmup:
            self.base_n += 1
            self.base_err += int(error)
            return None
        self.monitored += 1
        self.recent.add(e)
        fired = "ddm" if self._ddm.drift_detected else "adwin" if self._adwin.drift_detected else None
        if fired and self.candidate is None:
            self.candidate = (fired, self.monitored)
        if self.candidate is None:
            return None
        detector, raised_at = self.candidate
        if self._confirmed():
            signal = self._signal(detector, raised_at)
            self.changes += 1
            self.reset()
            return signal
        if self.monitored - raised_at >= self.cfg.confirm_patience:
            self.candidate = None
        return None

    def _confirmed(self) -> bool:
        n = len(self.recent)
        if n < min(self.cfg.confirm_window, 50):
            return False
        p0 = min(max(self.base_rate, 1.0 / (self.base_n + 1)), 1 - 1.0 / (self.base_n + 1))
        p1 = self.recent.mean
        se = math.sqrt(p0 * (1 - p0) * (1.0 / n + 1.0 / self.base_n))  # both rates are estimates
        return p1 - p0 >= self.cfg.min_increase and (p1 - p0) / se >= self.cfg.confirm_z

    def _signal(self, detector: str, raised_at: int) -> Signal:
        p0, p1 = self.base_rate, self.recent.mean
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
                "reference_window": str(self.base_n),
                "recent_window": str(len(self.recent)),
                "adwin_width": str(int(self._adwin.width)),
                "events_since_alarm": str(self.monitored - raised_at),
            },
            severity="critical",
        )

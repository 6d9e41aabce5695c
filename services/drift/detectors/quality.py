"""Data quality of one feature: a burst of nulls, NaN, infinities or out-of-range values.

The bad-value rate over a sliding window is compared with the larger of ``max_bad_rate`` and the
training null rate plus ``null_rate_margin`` (a feature that is often null in training is not an
incident when it is often null live). Hysteresis: re-armed once the rate falls below
``clear_ratio`` x the limit.
"""

from __future__ import annotations

from collections import Counter, deque

from services.drift.config import QualityThresholds
from services.drift.detectors.base import Detector, DetectorContext, Signal


class QualityDetector(Detector[str, QualityThresholds]):
    """Data quality of a numeric feature: fed each value's verdict (:meth:`classify`: "" when good).

    Uses ``context.profile`` (its ``null_rate``: a feature often null in training may be often null live).
    """

    name = "quality"
    config = QualityThresholds

    def __init__(self, feature: str, cfg: QualityThresholds, context: DetectorContext | None = None) -> None:
        super().__init__(feature, cfg, context)
        profile = context.profile if context else None
        profile_null_rate = float(profile.get("null_rate") or 0.0) if profile else None
        self.window: deque[str] = deque()  # "" for a good value, else the reason
        self.bad = 0
        self.reasons: Counter[str] = Counter()
        self.armed = True
        self.set_profile_null_rate(profile_null_rate)

    def set_profile_null_rate(self, rate: float | None) -> None:
        self.profile_null_rate = rate
        self.limit = max(self.cfg.max_bad_rate, (rate or 0.0) + self.cfg.null_rate_margin)

    def classify(self, value: float | None) -> str:
        """The reason a value is bad, or "" when it is good."""
        if value is None:
            return "null"
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "infinite"
        if self.cfg.valid_min is not None and value < self.cfg.valid_min:
            return "below_min"
        if self.cfg.valid_max is not None and value > self.cfg.valid_max:
            return "above_max"
        return ""

    def update(self, reason: str, ts_ms: int = 0) -> Signal | None:
        self.window.append(reason)
        if reason:
            self.bad += 1
            self.reasons[reason] += 1
        if len(self.window) > self.cfg.window:
            old = self.window.popleft()
            if old:
                self.bad -= 1
                self.reasons[old] -= 1
        if len(self.window) < self.cfg.min_events:
            return None
        rate = self.bad / len(self.window)
        if not self.armed:
            if rate < self.limit * self.cfg.clear_ratio:
                self.armed = True
            return None
        if rate < self.limit:
            return None
        self.armed = False
        kinds = ", ".join(f"{k} {v}" for k, v in self.reasons.most_common() if v > 0)
        n = len(self.window)
        return Signal(
            kind="data_quality",
            feature=self.feature,
            detector="bad_value_rate",
            summary=(
                f"Feature '{self.feature}' has {rate:.0%} bad values in the last {n} events ({kinds}); "
                f"limit {self.limit:.0%}."
            ),
            evidence={
                "feature": self.feature,
                "detector": "bad_value_rate",
                "bad_rate": f"{rate:.4f}",
                "limit": f"{self.limit:.4f}",
                "profile_null_rate": "n/a" if self.profile_null_rate is None else f"{self.profile_null_rate:.4f}",
                "recent_window": str(n),
                "reasons": kinds,
            },
            severity="critical" if rate >= 0.5 else "warning",
        )

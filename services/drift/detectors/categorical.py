"""Drift of one categorical feature: Jensen-Shannon distance of a sliding window to a reference window.

The reference is the first ``warmup`` values after a reset; every ``check_every`` values the last
``window`` values are compared to it. ``persistence`` consecutive checks above the threshold make
one signal (a single noisy window does not), then the reference is rebuilt on the new regime.
"""

from __future__ import annotations

from collections import Counter, deque

from services.drift.config import CategoricalThresholds
from services.drift.detectors.base import Signal, fmt
from services.drift.detectors.distance import js_divergence, psi

OTHER = "__other__"


class CategoricalDriftDetector:
    def __init__(self, feature: str, cfg: CategoricalThresholds) -> None:
        self.feature = feature
        self.cfg = cfg
        self.changes = 0
        self.reset()

    def reset(self) -> None:
        self.reference: Counter[str] = Counter()
        self.ref_n = 0
        self.window: deque[str] = deque()
        self.counts: Counter[str] = Counter()
        self.since_check = 0
        self.above = 0
        self.last_js = 0.0

    @property
    def warming_up(self) -> bool:
        return self.ref_n < self.cfg.warmup

    def _key(self, value: str) -> str:
        # Bound the state: categories never seen in the reference beyond the cap share one bucket.
        if value in self.reference or len(self.reference) < self.cfg.max_categories:
            return value
        return OTHER

    def update(self, value: str) -> Signal | None:
        if self.ref_n < self.cfg.warmup:
            self.reference[self._key(value)] += 1
            self.ref_n += 1
            return None
        key = value
        if (
            key not in self.reference
            and key not in self.counts
            and len(self.counts) >= self.cfg.max_categories
        ):
            key = OTHER
        self.window.append(key)
        self.counts[key] += 1
        if len(self.window) > self.cfg.window:
            old = self.window.popleft()
            self.counts[old] -= 1
            if self.counts[old] <= 0:
                del self.counts[old]
        self.since_check += 1
        if len(self.window) < self.cfg.window or self.since_check < self.cfg.check_every:
            return None
        self.since_check = 0
        cats = sorted(set(self.reference) | set(self.counts))
        ref = [self.reference.get(c, 0) for c in cats]
        cur = [self.counts.get(c, 0) for c in cats]
        js = js_divergence(ref, cur)
        self.last_js = js
        self.above = self.above + 1 if js >= self.cfg.js_threshold else 0
        if self.above < self.cfg.persistence:
            return None
        signal = self._signal(cats, ref, cur, js, psi(ref, cur))
        self.changes += 1
        self.reset()
        return signal

    def _signal(self, cats: list[str], ref: list[int], cur: list[int], js: float, p: float) -> Signal:
        rn, cn = sum(ref) or 1, sum(cur) or 1
        moves = sorted(
            ((c, r / rn, k / cn) for c, r, k in zip(cats, ref, cur, strict=True)),
            key=lambda t: abs(t[2] - t[1]),
            reverse=True,
        )[:3]
        top = ", ".join(f"'{c}' {b:.1%} -> {a:.1%}" for c, b, a in moves)
        return Signal(
            kind="data_drift",
            feature=self.feature,
            detector="jensen_shannon",
            summary=f"Feature '{self.feature}' changed its category mix (JS {js:.3f}): {top}.",
            evidence={
                "feature": self.feature,
                "detector": "jensen_shannon",
                "js": fmt(js),
                "psi": fmt(p),
                "js_threshold": fmt(self.cfg.js_threshold),
                "reference_window": str(rn),
                "recent_window": str(cn),
                "top_changes": top,
            },
        )

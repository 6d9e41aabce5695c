"""Drift of one categorical feature: Jensen-Shannon distance of a sliding window to a reference window.

The reference is learnt after a reset (``warmup`` values, and with a daily season one whole period,
kept per phase); every ``check_every`` values the last ``window`` values are compared with the mix
the reference expects for the phases those values came at. ``persistence`` consecutive checks above the threshold make
one signal (a single noisy window does not), then the reference is rebuilt on the new regime.
"""

from __future__ import annotations

from collections import Counter, deque

from services.drift.config import CategoricalThresholds
from services.drift.detectors.base import Detector, DetectorContext, Signal, fmt
from services.drift.stats.distance import js_divergence, psi
from services.drift.stats.season import CategoricalReference

OTHER = "__other__"


class CategoricalDriftDetector(Detector[str, CategoricalThresholds]):
    """Drift of a categorical feature's mix: fed its values, one signal per persistent change.

    Uses ``context.season`` (the mix expected per phase of the daily cycle).
    """

    name = "categorical"
    config = CategoricalThresholds

    def __init__(self, feature: str, cfg: CategoricalThresholds, context: DetectorContext | None = None) -> None:
        super().__init__(feature, cfg, context)
        self.season = (context or DetectorContext()).season
        self.changes = 0
        self.reset()

    def reset(self) -> None:
        self.reference = CategoricalReference(self.season, self.cfg.warmup, self.cfg.max_categories)
        self.window: deque[tuple[str, dict[str, float]]] = deque()
        self.counts: Counter[str] = Counter()
        self.expected: dict[str, float] = {}  # sum over the window of each value's phase shares
        self.since_check = 0
        self.above = 0
        self.last_js = 0.0

    @property
    def warming_up(self) -> bool:
        return not self.reference.complete

    def update(self, value: str, ts_ms: int = 0) -> Signal | None:
        ref = self.reference
        if not ref.complete:
            ref.add(value, ts_ms, OTHER)
            return None
        key = value
        if key not in ref.known and key not in self.counts and len(self.counts) >= self.cfg.max_categories:
            key = OTHER
        shares = ref.expected(ts_ms)
        self.window.append((key, shares))
        self.counts[key] += 1
        for c, p in shares.items():
            self.expected[c] = self.expected.get(c, 0.0) + p
        if len(self.window) > self.cfg.window:
            old, old_shares = self.window.popleft()
            self.counts[old] -= 1
            if self.counts[old] <= 0:
                del self.counts[old]
            for c, p in old_shares.items():
                self.expected[c] -= p
        self.since_check += 1
        if len(self.window) < self.cfg.window or self.since_check < self.cfg.check_every:
            return None
        self.since_check = 0
        cats = sorted(set(self.expected) | set(self.counts))
        # What the window should look like: the reference mix of each value's own phase, summed.
        ref_mix = [max(self.expected.get(c, 0.0), 0.0) for c in cats]
        cur = [float(self.counts.get(c, 0)) for c in cats]
        js = js_divergence(ref_mix, cur)
        self.last_js = js
        self.above = self.above + 1 if js >= self.cfg.js_threshold else 0
        if self.above < self.cfg.persistence:
            return None
        signal = self._signal(cats, ref_mix, cur, js, psi(ref_mix, cur))
        self.changes += 1
        self.reset()
        return signal

    def _signal(self, cats: list[str], ref: list[float], cur: list[float], js: float, p: float) -> Signal:
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
                "reference_window": str(self.reference.size),
                "recent_window": str(cn),
                "top_changes": top,
            },
        )

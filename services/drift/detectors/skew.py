"""Training-serving skew: live values of a feature that the training data of the live model never had.

Skew here means a pipeline fault between training and serving, not a changed world:
- a numeric feature changed scale: the median and the spread (IQR) of its last ``scale_window``
  values are both ``min_scale_ratio`` times (or 1/x) the training profile's, by about one factor,
  and the median keeps its place next to the spread: the mark of a unit or scaling change (months
  for years, units for thousands); a moderate shift, or a mixture whose share moves, is data drift,
  which the drift detector judges against the season;
- a categorical feature arrives in categories training never saw (an encoding change: "NA" for
  "na"), more than ``unseen_share`` of the window. A changed mix of known categories is data drift.

The profile (ModelPublished.profile) gives, per numeric feature, interior quantile bin edges and the
share of training rows per bin (``len(fractions) == len(edges) + 1``; outer edges, ``len(edges) ==
len(fractions) + 1``, are accepted too), and per categorical feature the categories and their shares.
PSI and Jensen-Shannon distances of the last ``window`` values go into the evidence.

One skew gives one ``raised`` signal; while it lasts a ``persisting`` signal follows every
``window`` values (the monitor updates the open incident), and its end gives ``recovered`` once
``recovery_values`` values in a row showed none. Only values newer (in event time) than the last
skewed check count towards recovery: partitions read out of step deliver old, pre-fault values
after faulty ones, and those say nothing about whether the fault is over.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any, Literal

from services.drift.config import SkewThresholds
from services.drift.detectors.base import Detector, DetectorContext, ProfileError, Signal, fmt
from services.drift.stats.distance import js_divergence, psi

OTHER = "__other__"
ZERO = 1e-9  # relative to the training scale: a live median this small is zero, not a ratio
CONSISTENT_SCALE = 3.0  # a change of units scales the median and the IQR by factors this close to each other


def _median_iqr(values: Sequence[float]) -> tuple[float, float]:
    s = sorted(values)
    n = len(s)

    def q(p: float) -> float:
        x = p * (n - 1)
        lo = int(x)
        hi = min(lo + 1, n - 1)
        return s[lo] + (s[hi] - s[lo]) * (x - lo)

    return q(0.5), q(0.75) - q(0.25)


class SkewDetector(Detector[float | str, SkewThresholds]):
    """Training-serving skew of one feature: fed its live values, judged against ``context.profile``.

    Needs the profile (the live model's bins of the feature): without a usable one, :class:`ProfileError`.
    """

    name = "skew"
    config = SkewThresholds

    def __init__(self, feature: str, cfg: SkewThresholds, context: DetectorContext | None = None) -> None:
        super().__init__(feature, cfg, context)
        profile: Mapping[str, Any] | None = context.profile if context else None
        if profile is None:
            raise ProfileError(f"no profile of {feature!r}: skew is judged against the live model's")
        self.kind = str(profile.get("kind", ""))
        self.fractions = [float(f) for f in profile.get("fractions") or []]
        self.mean = profile.get("mean")
        self.std = profile.get("std")
        self.null_rate = float(profile.get("null_rate") or 0.0)
        if not self.fractions or any(not math.isfinite(f) or f < 0 for f in self.fractions):
            raise ProfileError(f"profile of {feature!r} has no usable fractions")
        if self.kind == "numeric":
            edges = [float(e) for e in profile.get("edges") or []]
            if len(edges) == len(self.fractions) + 1:
                edges = edges[1:-1]  # outer edges given: keep the interior cut points
            if len(edges) != len(self.fractions) - 1:
                raise ProfileError(
                    f"profile of {feature!r}: {len(edges)} edges do not fit {len(self.fractions)} fractions"
                )
            if edges != sorted(edges):
                raise ProfileError(f"profile of {feature!r}: edges are not sorted")
            self.edges = edges
            self.categories: list[str] = []
            self.train_median = self._quantile(0.5)
            q25, q75 = self._quantile(0.25), self._quantile(0.75)
            self.train_iqr = (q75 - q25) if q25 is not None and q75 is not None else None
        elif self.kind == "categorical":
            self.categories = [str(c) for c in profile.get("categories") or []]
            if len(self.categories) != len(self.fractions):
                raise ProfileError(
                    f"profile of {feature!r}: {len(self.categories)} categories vs {len(self.fractions)} fractions"
                )
            self.edges = []
        else:
            raise ProfileError(f"profile of {feature!r}: unknown kind {self.kind!r}")
        self.window: deque[int] = deque()
        self.counts: Counter[int] = Counter()
        self.values: deque[float] = deque(maxlen=max(cfg.scale_window, 1))
        self.since_check = 0
        self.since_signal = 0
        self.clean = 0  # values since the last skewed check, newer than it in event time
        self.skewed_until_ms = 0  # event time of the newest value when a check last found skew
        self.newest_ms = 0  # event time of the newest value seen
        self.fresh = 0  # values since the last check that are newer than skewed_until_ms
        self.active = False
        self.last_distance = 0.0
        n_bins = len(self.fractions)
        self._index = {c: i for i, c in enumerate(self.categories)}
        self._other = self._index.get(OTHER, n_bins)  # unseen categories: "__other__" or an extra bin
        self._unseen_bin = n_bins  # categories training never saw (not even as "__other__")

    # ---------------------------------------------------------------- profile
    def _quantile(self, q: float) -> float | None:
        """A training quantile from the profile's bins (linear between edges); None without edges."""
        if not self.edges:
            return None
        cum = 0.0
        points: list[tuple[float, float]] = []
        for i, edge in enumerate(self.edges):
            cum += self.fractions[i]
            points.append((cum, edge))
        if q <= points[0][0]:
            return points[0][1]
        for (c0, e0), (c1, e1) in pairwise(points):
            if c0 <= q <= c1:
                return e0 if c1 == c0 else e0 + (e1 - e0) * (q - c0) / (c1 - c0)
        return points[-1][1]

    def scale_factor(self, values: Sequence[float], min_values: int | None = None) -> float | None:
        """The factor by which ``values`` are scaled against training, when it is a change of scale.

        A change of units multiplies every value, so it keeps the shape: the median and the IQR must be
        ``min_scale_ratio`` times (or 1/x) the training ones, in the same direction and by about the same
        factor (within ``CONSISTENT_SCALE``), and a median that is a usable ratio in training (not small
        next to its spread) stays one. A window whose median fell small next to its spread changed
        shape, not units: near and far jobs, with the far ones over a quarter of a window by chance,
        widen the IQR twentyfold and leave the median where it was. Only for a centred feature (a
        training median near zero) does the spread alone judge, and only a widening counts: a seasonal
        feature at another hour than a partial day of training has another median and a narrower
        window, which is no change of units. None: no change of scale (or too few values, or no
        numeric profile).
        """
        ratio = self.cfg.min_scale_ratio
        least = max(10, self.cfg.scale_window // 2) if min_values is None else min_values
        if self.kind != "numeric" or ratio <= 0 or len(values) < least:
            return None
        median, iqr = _median_iqr(values)
        tm, ti = self.train_median, self.train_iqr
        if tm is None:
            return None
        spread = iqr / ti if ti and ti > 0 and iqr > 0 else None

        def scaled(r: float | None) -> int:
            return 0 if r is None else 1 if r >= ratio else -1 if r <= 1 / ratio else 0

        ss = scaled(spread)
        if abs(tm) < 0.5 * (ti or 0.0):  # a centred feature: its median is no ratio, its spread is
            return spread if ss > 0 else None
        # A median of zero up to rounding (cos 90 degrees is 6e-17) is no value scaled by 1e-16.
        nonzero = abs(median) > ZERO * max(abs(tm), ti or 0.0)
        if not (nonzero and median * tm > 0 and abs(median) >= 0.5 * iqr):
            return None  # the shape changed (or the sign): drift, not new units
        location = median / tm
        ls = scaled(location)
        if ls == 0:
            return None
        if spread is None:
            return location
        alike = abs(math.log(location / spread)) <= math.log(CONSISTENT_SCALE)
        return location if ls == ss and alike else None

    # ---------------------------------------------------------------- live
    def _bin(self, value: float | str) -> int:
        if self.kind == "numeric":
            return bisect.bisect_right(self.edges, float(value))
        key = str(value)
        if key in self._index:
            return self._index[key]
        return self._other if OTHER in self._index else self._unseen_bin

    def update(self, value: float | str, ts_ms: int = 0) -> Signal | None:
        """One value at event time ``ts_ms`` (0: unknown, counted as new)."""
        if ts_ms <= 0 or ts_ms > self.skewed_until_ms:
            self.fresh += 1
        self.newest_ms = max(self.newest_ms, ts_ms)
        b = self._bin(value)
        self.window.append(b)
        self.counts[b] += 1
        if self.kind == "numeric":
            self.values.append(float(value))
        if len(self.window) > self.cfg.window:
            self.counts[self.window.popleft()] -= 1
        self.since_check += 1
        self.since_signal += 1
        check_every = min(self.cfg.check_every, max(self.cfg.scale_window // 4, 1))
        if self.since_check < check_every:
            return None
        self.since_check = 0
        skewed = self._skewed()
        if skewed is None:
            return None
        fresh, self.fresh = self.fresh, 0
        if skewed:
            self.clean = 0
            self.skewed_until_ms = self.newest_ms
        else:
            self.clean += fresh
        if not self.active:
            if skewed:
                self.active = True
                self.since_signal = 0
                return self._signal("raised")
            return None
        if not skewed:
            if self.since_signal < self.cfg.scale_window or self.clean < self.cfg.recovery_values:
                return None  # not over until the window turned over and stayed clean (partitions out of step)
            self.active = False
            return self._signal("recovered")
        if self.since_signal >= self.cfg.window:
            self.since_signal = 0
            return self._signal("persisting")
        return None

    def activate(self) -> None:
        """Another detector saw this skew first (the monitor's judgement): one incident, not two."""
        self.active = True
        self.since_signal = 0

    def _skewed(self) -> bool | None:
        """Whether the recent values are skewed; None while there are too few to say."""
        if self.kind == "numeric":
            if len(self.values) < self.cfg.scale_window:
                return None
            return self.scale_factor(list(self.values)) is not None
        if len(self.window) < self.cfg.min_events:
            return None
        return self.unseen_share() >= self.cfg.unseen_share

    def unseen_share(self) -> float:
        n = len(self.window)
        return self.counts.get(self._unseen_bin, 0) / n if n else 0.0

    def _distances(self) -> tuple[float, float]:
        n_bins = max(len(self.fractions), self._unseen_bin + 1)
        expected = self.fractions + [0.0] * (n_bins - len(self.fractions))
        actual = [float(self.counts.get(i, 0)) for i in range(n_bins)]
        return psi(expected, actual), js_divergence(expected, actual)

    def _signal(self, phase: Literal["raised", "persisting", "recovered"]) -> Signal:
        p, js = self._distances()
        metric = "scale" if self.kind == "numeric" else "unseen_categories"
        self.last_distance = p if self.kind == "numeric" else js
        n = len(self.window)
        evidence = {
            "feature": self.feature,
            "detector": metric,
            "psi": fmt(p),
            "js": fmt(js),
            "recent_window": str(n),
            "reference": "model profile",
        }
        if self.kind == "numeric":
            values = list(self.values)
            live_mean = sum(values) / len(values)
            var = sum((v - live_mean) ** 2 for v in values) / max(len(values) - 1, 1)
            # The window may still mix both regimes: the newest values say best how large the factor is.
            factor = self.scale_factor(values[-20:], 20) or self.scale_factor(values)
            evidence |= {
                "before_mean": fmt(self.mean),
                "before_std": fmt(self.std),
                "after_mean": fmt(live_mean),
                "after_std": fmt(math.sqrt(var)),
                "scale_factor": fmt(factor),
                "scale_window": str(len(values)),
            }
            detail = f"live mean {fmt(live_mean)} vs training {fmt(self.mean)}"
            if factor is not None:
                detail += f" (x{factor:.3g}: a unit or scaling change?)"
        else:
            share = self.unseen_share()
            evidence["unseen_share"] = f"{share:.4f}"
            detail = f"{share:.0%} of the values are categories training never saw (an encoding change?)"
        what = {"raised": "", "persisting": " persists", "recovered": " is gone"}[phase]
        return Signal(
            kind="skew",
            feature=self.feature,
            detector=metric,
            summary=f"Training-serving skew on '{self.feature}'{what}: {detail}, over the last {n} events.",
            evidence=evidence,
            severity="critical" if phase != "recovered" else "info",
            phase=phase,
        )

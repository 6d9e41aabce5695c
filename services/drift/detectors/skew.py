"""Training-serving skew: the live window of a feature against the reference profile of the live model.

The profile (ModelPublished.profile) gives, per numeric feature, interior bin edges and the share of
training rows per bin (``len(fractions) == len(edges) + 1``; outer edges, ``len(edges) ==
len(fractions) + 1``, are accepted too), and per categorical feature the categories and their shares.
Numeric features are judged by PSI, categorical ones by Jensen-Shannon; a numeric feature must also
have changed scale (``min_scale_ratio``), since a moderate shift is data drift, not a pipeline fault.
Hysteresis: after a signal the detector re-arms only once the distance falls below ``clear_ratio`` x the threshold.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

from services.drift.config import SkewThresholds
from services.drift.detectors.base import Signal, fmt
from services.drift.detectors.distance import js_divergence, psi

OTHER = "__other__"


class ProfileError(ValueError):
    """A reference profile entry that cannot be used (the message says why)."""


class SkewDetector:
    def __init__(self, feature: str, profile: Mapping[str, Any], cfg: SkewThresholds) -> None:
        self.feature = feature
        self.cfg = cfg
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
        self.values: deque[float] = deque()
        self.since_check = 0
        self.armed = True
        self.last_distance = 0.0
        n_bins = len(self.fractions)
        self._index = {c: i for i, c in enumerate(self.categories)}
        self._other = self._index.get(OTHER, n_bins)  # unseen categories: "__other__" or an extra bin

    def _bin(self, value: float | str) -> int:
        if self.kind == "numeric":
            return bisect.bisect_right(self.edges, float(value))
        return self._index.get(str(value), self._other)

    def update(self, value: float | str) -> Signal | None:
        b = self._bin(value)
        self.window.append(b)
        self.counts[b] += 1
        if self.kind == "numeric":
            self.values.append(float(value))
        if len(self.window) > self.cfg.window:
            old = self.window.popleft()
            self.counts[old] -= 1
            if self.values:
                self.values.popleft()
        self.since_check += 1
        if len(self.window) < self.cfg.min_events or self.since_check < self.cfg.check_every:
            return None
        self.since_check = 0
        n_bins = max(len(self.fractions), self._other + 1)
        expected = self.fractions + [0.0] * (n_bins - len(self.fractions))
        actual = [float(self.counts.get(i, 0)) for i in range(n_bins)]
        p = psi(expected, actual)
        js = js_divergence(expected, actual)
        distance, threshold, metric = (p, self.cfg.psi_threshold, "psi")
        if self.kind == "categorical":
            distance, threshold, metric = (js, self.cfg.js_threshold, "js")
        self.last_distance = distance
        if not self.armed:
            if distance < threshold * self.cfg.clear_ratio:
                self.armed = True
            return None
        if distance < threshold:
            return None
        if self.kind == "numeric" and not self._scale_changed():
            return None  # the distribution moved, but as the world moves: data drift, not skew
        self.armed = False
        return self._signal(metric, distance, p, js)

    def _scale_changed(self) -> bool:
        """True when the live mean or spread is min_scale_ratio times (or 1/x) the training one."""
        ratio = self.cfg.min_scale_ratio
        if ratio <= 0 or not self.values:
            return True
        n = len(self.values)
        live_mean = sum(self.values) / n
        live_std = math.sqrt(sum((v - live_mean) ** 2 for v in self.values) / max(n - 1, 1))
        train_mean, train_std = self.mean, self.std
        scale = float(train_std) if train_std else 0.0
        if train_mean is not None:
            moved = abs(live_mean - float(train_mean))
            if moved >= ratio * max(abs(float(train_mean)), scale):
                return True  # e.g. salary in units instead of thousands
        return scale > 0 and (live_std >= ratio * scale or live_std <= scale / ratio)

    def _signal(self, metric: str, distance: float, p: float, js: float) -> Signal:
        n = len(self.window)
        evidence = {
            "feature": self.feature,
            "detector": metric,
            "psi": fmt(p),
            "js": fmt(js),
            "threshold": fmt(self.cfg.psi_threshold if metric == "psi" else self.cfg.js_threshold),
            "recent_window": str(n),
            "reference": "model profile",
        }
        if self.kind == "numeric" and self.values:
            live_mean = sum(self.values) / len(self.values)
            var = sum((v - live_mean) ** 2 for v in self.values) / max(len(self.values) - 1, 1)
            evidence |= {
                "before_mean": fmt(self.mean),
                "before_std": fmt(self.std),
                "after_mean": fmt(live_mean),
                "after_std": fmt(math.sqrt(var)),
            }
            detail = f"live mean {fmt(live_mean)} vs training {fmt(self.mean)}"
            if self.mean not in (None, 0) and live_mean != 0:
                ratio = live_mean / float(self.mean)  # type: ignore[arg-type]
                if abs(ratio) >= 10 or abs(ratio) <= 0.1:
                    detail += f" (x{ratio:.3g}: a unit or scaling change?)"
        else:
            detail = "category mix differs from training"
        return Signal(
            kind="skew",
            feature=self.feature,
            detector=metric,
            summary=(
                f"Training-serving skew on '{self.feature}': {metric.upper()} {distance:.3f} "
                f"over the last {n} events; {detail}."
            ),
            evidence=evidence,
            severity="critical"
            if distance >= 4 * (self.cfg.psi_threshold if metric == "psi" else 0.25)
            else "warning",
        )

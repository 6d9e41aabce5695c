"""Reference statistics a detector compares against: a warm-up window and a recent window.

Why: river's detectors say *that* something changed; the baseline says *how much* (in reference
standard deviations), which both confirms a change worth an incident and fills the evidence.
"""

from __future__ import annotations

import math
from collections import deque


class Welford:
    """Running mean and variance in one pass, numerically stable."""

    __slots__ = ("m2", "mean", "n")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def update(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0


class RecentWindow:
    """The last ``size`` values with O(1) mean and standard deviation."""

    __slots__ = ("_s", "_s2", "size", "values")

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: deque[float] = deque()
        self._s = 0.0
        self._s2 = 0.0

    def add(self, x: float) -> None:
        self.values.append(x)
        self._s += x
        self._s2 += x * x
        if len(self.values) > self.size:
            old = self.values.popleft()
            self._s -= old
            self._s2 -= old * old

    def clear(self) -> None:
        self.values.clear()
        self._s = self._s2 = 0.0

    def __len__(self) -> int:
        return len(self.values)

    @property
    def full(self) -> bool:
        return len(self.values) >= self.size

    @property
    def mean(self) -> float:
        n = len(self.values)
        return self._s / n if n else 0.0

    @property
    def std(self) -> float:
        n = len(self.values)
        if n < 2:
            return 0.0
        var = (self._s2 - self._s * self._s / n) / (n - 1)
        return math.sqrt(var) if var > 0 else 0.0


class Baseline:
    """Mean and std of a warm-up window; values are judged in these reference units."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.stats = Welford()
        self.values: list[float] = []

    def add(self, x: float) -> bool:
        """Add a warm-up value; True once the baseline is complete."""
        self.stats.update(x)
        self.values.append(x)
        return self.stats.n >= self.size

    @property
    def mean(self) -> float:
        return self.stats.mean

    @property
    def std(self) -> float:
        """Floored so a constant feature still standardises (any change of it is then large)."""
        s = self.stats.std
        floor = max(abs(self.stats.mean) * 1e-3, 1e-9)
        return s if s > floor else floor

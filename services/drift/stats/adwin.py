"""ADWIN (river.drift.ADWIN) on a standardised stream: adaptive windows, no fixed window to tune."""

from __future__ import annotations

from river.drift import ADWIN


class AdwinChannel:
    """ADWIN over one stream; ``width`` is the size of its current (post-cut) window."""

    name = "adwin"

    def __init__(self, delta: float = 0.002) -> None:
        self.delta = delta
        self._d = ADWIN(delta=delta)

    def update(self, x: float) -> bool:
        self._d.update(x)
        return bool(self._d.drift_detected)

    @property
    def width(self) -> int:
        return int(self._d.width)

    @property
    def mean(self) -> float:
        return float(self._d.estimation)

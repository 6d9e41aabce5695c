"""PageHinkley (river.drift.PageHinkley) on a standardised stream.

On values standardised by the baseline, ``delta`` is the CUSUM allowance k and ``threshold`` the
decision interval h, both in reference standard deviations, so one setting fits every feature.
"""

from __future__ import annotations

from river.drift import PageHinkley


class PageHinkleyChannel:
    name = "page_hinkley"

    def __init__(self, delta: float, threshold: float, min_instances: int = 30, name: str | None = None) -> None:
        if name:
            self.name = name
        self._d = PageHinkley(min_instances=min_instances, delta=delta, threshold=threshold, alpha=1.0)

    def update(self, x: float) -> bool:
        self._d.update(x)
        return bool(self._d.drift_detected)

"""Null burst: a feature goes missing for a while (an upstream outage); the world is unchanged."""

from __future__ import annotations

import random
from typing import Any

from loadgen.faults.base import Fault


class NullBurst(Fault):
    """An upstream outage: values missing, the world unchanged (data quality)."""

    name = "null_burst"
    summary = "a numeric feature is null for N seconds (data quality)"
    default_duration_s = 30.0
    params_help = {"feature": "numeric feature (default skill_match)", "rate": "share of events hit (default 1)"}

    def setup(self) -> None:
        self.feature = self.param_feature("skill_match")
        self.rate = self.param_float("rate", 1.0)

    def report(self, event: dict[str, Any], t_s: float, rng: random.Random) -> None:
        if rng.random() < self.rate:
            event[self.feature] = None

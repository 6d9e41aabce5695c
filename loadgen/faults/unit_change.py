"""Unit change: an upstream system starts reporting a feature in other units (training-serving skew)."""

from __future__ import annotations

import random
from typing import Any

from loadgen.faults.base import Fault


class UnitChange(Fault):
    """A pipeline fault between training and serving: the same world in other units (skew)."""

    name = "unit_change"
    summary = "a feature is reported in other units (salary_k x1000) while the world is unchanged (skew)"
    params_help = {"feature": "numeric feature (default salary_k)", "factor": "multiplier (default 1000)"}

    def setup(self) -> None:
        self.feature = self.param_feature("salary_k")
        self.factor = self.param_float("factor", 1000.0)

    def report(self, event: dict[str, Any], t_s: float, rng: random.Random) -> None:
        if event[self.feature] is not None:
            event[self.feature] = event[self.feature] * self.factor

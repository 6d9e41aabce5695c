"""Covariate shift: one numeric feature moves by a number of standard deviations (e.g. salary inflation)."""

from __future__ import annotations

import random
from typing import Any

from loadgen.faults.base import Fault
from loadgen.traffic import FEATURE_STD


class CovariateShift(Fault):
    """A real change of the population: the model sees inputs it was not trained on (data drift)."""

    name = "covariate_shift"
    summary = "a numeric feature shifts by N standard deviations in the real world (data drift)"
    params_help = {"feature": "numeric feature (default salary_k)", "std": "shift in standard deviations (default 2)"}

    def setup(self) -> None:
        self.feature = self.param_feature("salary_k")
        self.shift = self.param_float("std", 2.0) * FEATURE_STD[self.feature]

    def world(self, event: dict[str, Any], t_s: float, rng: random.Random) -> None:
        value = event[self.feature]
        if value is not None:
            shifted = value + self.shift
            event[self.feature] = min(1.0, max(0.0, shifted)) if self.feature == "skill_match" else max(0.0, shifted)

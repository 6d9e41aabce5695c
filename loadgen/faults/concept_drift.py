"""Concept drift: the features stay the same but members' preferences reverse, so labels change."""

from __future__ import annotations

from loadgen.faults.base import Fault
from loadgen.traffic import TruthCoefficients


class ConceptDrift(Fault):
    """A changed world with the same inputs: only the error rate on labels can see it."""

    name = "concept_drift"
    summary = "the hidden apply function flips its dependence on skill, salary, distance and remote"

    def truth(self, coef: TruthCoefficients, t_s: float) -> TruthCoefficients:
        return coef.flipped()

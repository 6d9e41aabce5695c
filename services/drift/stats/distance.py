"""Distances between two discrete distributions: PSI and Jensen-Shannon (base 2, in [0, 1])."""

from __future__ import annotations

import math
from collections.abc import Sequence

EPS = 1e-4


def _normalise(p: Sequence[float]) -> list[float]:
    total = float(sum(p))
    if total <= 0:
        return [1.0 / len(p)] * len(p) if p else []
    return [max(x, 0.0) / total for x in p]


def _normalised_pair(p: Sequence[float], q: Sequence[float], mismatch: str) -> tuple[list[float], list[float]]:
    """Both distributions normalised; bins that do not match one for one raise ``mismatch`` with both counts."""
    if len(p) != len(q):
        raise ValueError(mismatch.format(len(p), len(q)))
    return _normalise(p), _normalise(q)


def psi(expected: Sequence[float], actual: Sequence[float], eps: float = EPS) -> float:
    """Population stability index; 0.1 is a small shift, 0.25 a major one (the usual rule of thumb)."""
    e, a = _normalised_pair(expected, actual, "psi: {} expected bins vs {} actual bins")
    total = 0.0
    for ei, ai in zip(e, a, strict=True):
        ei = max(ei, eps)
        ai = max(ai, eps)
        total += (ai - ei) * math.log(ai / ei)
    return total


def js_divergence(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon divergence in bits: 0 for identical, 1 for disjoint distributions."""
    pn, qn = _normalised_pair(p, q, "js: {} vs {} bins")
    total = 0.0
    for pi, qi in zip(pn, qn, strict=True):
        m = 0.5 * (pi + qi)
        if pi > 0:
            total += 0.5 * pi * math.log2(pi / m)
        if qi > 0:
            total += 0.5 * qi * math.log2(qi / m)
    return max(0.0, min(1.0, total))

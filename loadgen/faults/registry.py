"""Fault registry: name -> class. Add a fault by writing a module and listing its class here."""

from __future__ import annotations

from collections.abc import Mapping

from loadgen.faults.base import Fault, FaultError
from loadgen.faults.concept_drift import ConceptDrift
from loadgen.faults.covariate_shift import CovariateShift
from loadgen.faults.kill_container import KillContainer
from loadgen.faults.null_burst import NullBurst
from loadgen.faults.schema_break import SchemaBreak
from loadgen.faults.unit_change import UnitChange

FAULTS: dict[str, type[Fault]] = {
    cls.name: cls for cls in (CovariateShift, ConceptDrift, UnitChange, NullBurst, SchemaBreak, KillContainer)
}


def create(
    name: str, start_s: float = 0.0, duration_s: float | None = None, params: Mapping[str, str] | None = None
) -> Fault:
    """Build a configured fault; unknown names and parameters raise FaultError."""
    try:
        cls = FAULTS[name]
    except KeyError:
        raise FaultError(f"unknown fault {name!r}; available: {', '.join(sorted(FAULTS))}") from None
    return cls(start_s, duration_s, params)

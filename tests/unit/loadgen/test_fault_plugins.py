"""Every loadgen fault in the registry keeps the plugin contract (loadgen.faults.base).

A new fault fails here until it is built like the others, is documented, reads exactly the
parameters its help lists, refuses any other by name, and has an effect when active.
"""

from __future__ import annotations

import pytest

from loadgen.faults.base import Fault, FaultError
from loadgen.faults.registry import FAULTS, create
from loadgen.traffic import Emission, TrafficConfig, TrafficGenerator

NAMES = sorted(FAULTS)
DATA_HOOKS = ("world", "truth", "report", "wire")


def _emissions(faults: list[Fault], n: int = 400) -> list[tuple[object, ...]]:
    gen = TrafficGenerator(TrafficConfig(seed=5, members=200, jobs=100), faults)
    out: list[Emission] = [gen.next(i, i / 100.0, 1_700_000_000_000 + i * 10) for i in range(n)]
    return [(e.event, e.applied, e.p_apply, e.raw) for e in out]


@pytest.mark.parametrize("name", NAMES)
def test_fault_is_documented_and_built_like_every_other(name: str) -> None:
    cls = FAULTS[name]
    assert cls.name == name and issubclass(cls, Fault)
    assert cls.__doc__ and cls.__doc__.strip() and cls.__doc__ is not Fault.__doc__
    assert cls.summary.strip() and cls.kind in ("data", "infra")
    assert cls.__init__ is Fault.__init__, f"{name}: read parameters in setup(), not in a constructor of its own"
    fault = create(name)  # its defaults are a valid configuration
    assert type(fault) is cls and fault.start_s == 0.0 and fault.duration_s == cls.default_duration_s
    assert fault.describe().startswith(name)


@pytest.mark.parametrize("name", NAMES)
def test_fault_params_help_covers_exactly_the_params_it_reads(name: str) -> None:
    cls = FAULTS[name]
    assert all(isinstance(text, str) and text.strip() for text in cls.params_help.values())
    assert create(name).read_params == set(cls.params_help)


@pytest.mark.parametrize("name", NAMES)
def test_fault_refuses_an_unknown_param_by_name(name: str) -> None:
    known = ", ".join(sorted(FAULTS[name].params_help)) or "none"
    with pytest.raises(FaultError, match=rf"^{name}: unknown parameter\(s\) colour; known: {known}$"):
        create(name, params={"colour": "red"})


@pytest.mark.parametrize("name", NAMES)
def test_fault_acts_through_the_hooks_of_its_kind(name: str) -> None:
    cls = FAULTS[name]
    overridden = {h for h in (*DATA_HOOKS, "trigger") if getattr(cls, h) is not getattr(Fault, h)}
    if cls.kind == "infra":
        assert overridden == {"trigger"}, f"{name}: an infrastructure fault acts once, in trigger()"
        return
    assert overridden and "trigger" not in overridden
    # Active from the start, it changes what the generator sends (or the hidden outcome).
    assert _emissions([create(name, 0.0, None)]) != _emissions([])


def test_unknown_fault_is_refused_by_name() -> None:
    with pytest.raises(FaultError, match="unknown fault 'meteor'; available: concept_drift"):
        create("meteor")


def test_an_infinite_duration_keeps_a_fault_on_until_the_end_even_with_a_default() -> None:
    """`--fault-duration inf` must not fall back to the fault's default (a null burst lasts 30 s by default)."""
    assert create("null_burst", 5.0, None, {}).duration_s == FAULTS["null_burst"].default_duration_s
    assert create("null_burst", 5.0, float("inf"), {}).duration_s is None
    assert create("null_burst", 5.0, 12.0, {}).duration_s == 12.0

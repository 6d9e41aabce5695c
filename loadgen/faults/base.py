"""What a fault can change: the world, the hidden truth, the reported event, the wire bytes, or infrastructure."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, ClassVar, overload

from loadgen.traffic import NUMERIC_FIELDS, TruthCoefficients


class FaultError(ValueError):
    """A fault was configured with a bad parameter."""


class Fault:
    """A fault plugin: every hook is a no-op; a fault overrides the ones it needs.

    Every fault is built the same way, ``Fault(start_s, duration_s, params)``, through
    :func:`loadgen.faults.registry.create`; a fault reads its parameters in :meth:`setup`, only through
    the ``param_*`` helpers and only those ``params_help`` declares, so the help is the whole truth.
    A fault is active from ``start_s`` for ``duration_s`` seconds of traffic (None: until the end).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    kind: ClassVar[str] = "data"  # data: changes events; infra: acts on the running system once
    default_duration_s: ClassVar[float | None] = None
    params_help: ClassVar[dict[str, str]] = {}

    def __init__(
        self, start_s: float = 0.0, duration_s: float | None = None, params: Mapping[str, str] | None = None
    ) -> None:
        self.start_s = float(start_s)
        # None: the fault's own default; infinite: on until the run ends (None from here on).
        self.duration_s = self.default_duration_s if duration_s is None else duration_s
        if self.duration_s is not None and math.isinf(self.duration_s):
            self.duration_s = None
        self.params = dict(params or {})
        unknown = set(self.params) - set(self.params_help)
        if unknown:
            known = ", ".join(sorted(self.params_help)) or "none"
            raise FaultError(f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}; known: {known}")
        self.triggered = False
        self.read_params: set[str] = set()  # what setup read: params_help must declare exactly these
        self.setup()

    def setup(self) -> None:
        """Read and check the parameters (FaultError on a bad one); a fault without any has nothing to do."""

    def active(self, t_s: float) -> bool:
        if t_s < self.start_s:
            return False
        return self.duration_s is None or t_s < self.start_s + self.duration_s

    # Hooks, in the order the generator calls them.
    def world(self, event: dict[str, Any], t_s: float, rng: random.Random) -> None:
        """Change the true feature values (the label is computed from them)."""

    def truth(self, coef: TruthCoefficients, t_s: float) -> TruthCoefficients:
        """Change the hidden apply function."""
        return coef

    def report(self, event: dict[str, Any], t_s: float, rng: random.Random) -> None:
        """Change what the pipeline is told, after the label was decided."""

    def wire(self, event: dict[str, Any], t_s: float, rng: random.Random) -> bytes | None:
        """Bytes to send instead of the Avro encoding (None: send the event normally)."""
        return None

    def trigger(self) -> str:
        """Infrastructure faults act once when they become active; returns what was done."""
        return ""

    # Helpers for parameters.
    @overload
    def param_str(self, name: str, default: str) -> str: ...
    @overload
    def param_str(self, name: str, default: None = None) -> str | None: ...
    def param_str(self, name: str, default: str | None = None) -> str | None:
        """A declared parameter as given, else ``default``; reading an undeclared one is a bug of the fault."""
        if name not in self.params_help:
            raise KeyError(f"{self.name}: parameter {name!r} is read but not in params_help")
        self.read_params.add(name)
        return self.params.get(name, default)

    def param_choice(self, name: str, choices: tuple[str, ...]) -> str:
        """One of ``choices`` (the first is the default)."""
        value = self.param_str(name, choices[0])
        if value not in choices:
            raise FaultError(f"{self.name}: {name} must be {', '.join(choices[:-1])} or {choices[-1]}, got {value!r}")
        return value

    def param_float(self, name: str, default: float) -> float:
        text = self.param_str(name)
        if text is None:
            return default
        try:
            return float(text)
        except ValueError:
            raise FaultError(f"{self.name}: parameter {name} must be a number, got {text!r}") from None

    def param_feature(self, default: str) -> str:
        feature = self.param_str("feature", default)
        if feature not in NUMERIC_FIELDS:
            raise FaultError(f"{self.name}: feature must be one of {', '.join(NUMERIC_FIELDS)}, got {feature!r}")
        return feature

    def describe(self) -> str:
        until = "the end" if self.duration_s is None else f"{self.start_s + self.duration_s:g} s"
        params = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name} from {self.start_s:g} s to {until}{' (' + params + ')' if params else ''}"

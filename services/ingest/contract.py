"""The data contract (contract.yaml) and its checker: pure, no I/O beyond reading the file once."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONTRACT = Path(__file__).with_name("contract.yaml")
_TYPES = {"string", "number", "integer", "boolean"}
_KEYS = {
    "type",
    "required",
    "nullable",
    "min",
    "max",
    "warn_min",
    "warn_max",
    "allowed",
    "min_length",
    "max_length",
    "max_ahead_s",
}


class ContractDefinitionError(ValueError):
    """contract.yaml itself is invalid."""


@dataclass(frozen=True)
class Violation:
    field: str
    # short code for metrics: missing, null, type, below_min, above_max, in_future, not_allowed, length, unknown
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass
class CheckResult:
    violations: list[Violation] = field(default_factory=list)
    nulls: list[str] = field(default_factory=list)
    out_of_range: list[str] = field(default_factory=list)  # soft: outside warn_min/warn_max

    @property
    def ok(self) -> bool:
        return not self.violations

    def message(self) -> str:
        return "; ".join(str(v) for v in self.violations)


@dataclass(frozen=True)
class FieldRule:
    name: str
    type: str
    required: bool = True
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    warn_min: float | None = None
    warn_max: float | None = None
    allowed: frozenset[str] | None = None
    min_length: int | None = None
    max_length: int | None = None
    max_ahead_s: float | None = None  # an epoch-milliseconds field: at most this far ahead of the clock


class Contract:
    """Field rules by name; ``check(record)`` lists every violation, not just the first."""

    def __init__(self, rules: list[FieldRule], *, allow_unknown: bool = False) -> None:
        self.rules = rules
        self.names = {r.name for r in rules}
        self.allow_unknown = allow_unknown

    @classmethod
    def load(cls, path: Path | str = DEFAULT_CONTRACT) -> Contract:
        try:
            doc = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ContractDefinitionError(f"cannot read contract {path}: {exc}") from exc
        return cls.from_dict(doc, str(path))

    @classmethod
    def from_dict(cls, doc: Any, origin: str = "contract") -> Contract:
        if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict):
            raise ContractDefinitionError(f"{origin}: needs a 'fields' mapping")
        rules = []
        for name, spec in doc["fields"].items():
            if not isinstance(spec, dict) or spec.get("type") not in _TYPES:
                raise ContractDefinitionError(f"{origin}: field {name!r} needs a type among {sorted(_TYPES)}")
            unknown = set(spec) - _KEYS
            if unknown:
                raise ContractDefinitionError(f"{origin}: field {name!r} has unknown keys {sorted(unknown)}")
            ahead = spec.get("max_ahead_s")
            if ahead is not None and (spec["type"] != "integer" or not isinstance(ahead, int | float) or ahead < 0):
                raise ContractDefinitionError(f"{origin}: field {name!r}: max_ahead_s needs an integer field, >= 0")
            allowed = spec.get("allowed")
            rules.append(
                FieldRule(
                    name=str(name),
                    type=spec["type"],
                    required=bool(spec.get("required", True)),
                    nullable=bool(spec.get("nullable", False)),
                    min=spec.get("min"),
                    max=spec.get("max"),
                    warn_min=spec.get("warn_min"),
                    warn_max=spec.get("warn_max"),
                    allowed=frozenset(str(a) for a in allowed) if allowed is not None else None,
                    min_length=spec.get("min_length"),
                    max_length=spec.get("max_length"),
                    max_ahead_s=ahead,
                )
            )
        return cls(rules, allow_unknown=bool(doc.get("allow_unknown_fields", False)))

    def check(self, record: dict[str, Any], now_ms: int | None = None) -> CheckResult:
        """Every violation of ``record``; ``now_ms`` (default the clock) bounds the max_ahead_s fields."""
        result = CheckResult()
        bad = result.violations.append
        for rule in self.rules:
            name = rule.name
            if name not in record:
                if rule.required:
                    bad(Violation(name, "missing", "required field is missing"))
                continue
            value = record[name]
            if value is None:
                if rule.nullable:
                    result.nulls.append(name)
                else:
                    bad(Violation(name, "null", "must not be null"))
                continue
            type_error = _type_error(rule.type, value)
            if type_error:
                bad(Violation(name, "type", type_error))
                continue
            if rule.type in ("number", "integer"):
                if rule.min is not None and value < rule.min:
                    bad(Violation(name, "below_min", f"{value!r} is below the minimum {rule.min}"))
                    continue
                if rule.max is not None and value > rule.max:
                    bad(Violation(name, "above_max", f"{value!r} is above the maximum {rule.max}"))
                    continue
                if rule.max_ahead_s is not None:
                    clock = time.time() * 1000 if now_ms is None else now_ms
                    ahead_s = (value - clock) / 1000
                    if ahead_s > rule.max_ahead_s:
                        # A far-future time would move every window past all it holds (the counts drop to 0).
                        why = f"is {ahead_s:.0f} s ahead of the clock (at most {rule.max_ahead_s:g} s allowed)"
                        bad(Violation(name, "in_future", why))
                        continue
                if (rule.warn_min is not None and value < rule.warn_min) or (
                    rule.warn_max is not None and value > rule.warn_max
                ):
                    result.out_of_range.append(name)
            elif rule.type == "string":
                if rule.allowed is not None and value not in rule.allowed:
                    shown = value if len(value) <= 40 else value[:40] + "..."
                    bad(Violation(name, "not_allowed", f"{shown!r} is not one of {', '.join(sorted(rule.allowed))}"))
                elif rule.min_length is not None and len(value) < rule.min_length:
                    bad(Violation(name, "length", f"shorter than {rule.min_length} characters"))
                elif rule.max_length is not None and len(value) > rule.max_length:
                    bad(Violation(name, "length", f"longer than {rule.max_length} characters"))
        if not self.allow_unknown:
            for name in record:
                if name not in self.names:
                    bad(Violation(str(name), "unknown", "field is not in the contract"))
        return result


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what an Avro long holds
DOUBLE_MAX_INT = int(sys.float_info.max)  # larger integers overflow a double (OverflowError, not a check)
DOUBLE_MIN_INT = -DOUBLE_MAX_INT


def _type_error(kind: str, value: Any) -> str | None:
    if kind == "string":
        return None if isinstance(value, str) else f"expected a string, got {type(value).__name__}"
    if kind == "boolean":
        return None if isinstance(value, bool) else f"expected a boolean, got {type(value).__name__}"
    if isinstance(value, bool):
        return f"expected a {kind}, got a boolean"
    if kind == "integer":
        if not isinstance(value, int):
            return f"expected an integer, got {type(value).__name__}"
        if not INT64_MIN <= value <= INT64_MAX:
            return f"{value!r} does not fit in a 64-bit integer"
        return None
    if not isinstance(value, int | float):
        return f"expected a number, got {type(value).__name__}"
    if isinstance(value, int) and not DOUBLE_MIN_INT <= value <= DOUBLE_MAX_INT:
        return "the number is too large for a double"
    if not math.isfinite(value):
        return f"{value!r} is not a finite number"
    return None

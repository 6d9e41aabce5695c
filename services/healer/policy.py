"""The versioned healing policy: which ladder of actions answers which incident.

Policy is data (policy.yaml) so operators change behaviour by review of one file, and every
audit record names the policy version that chose the action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.common.incidents import INCIDENT_TYPES, ROOT_CAUSES

StepCheck = Callable[[str, str, str, Mapping[str, str]], None]  # (action, target, verify, params)
VERIFICATIONS = frozenset({"health", "model_live", "model_rolled_back", "quiet", "recovered", "delivered", "none"})
_STEP_KEYS = {"action", "target", "verify", "attempts", "verify_timeout_s"}


class PolicyError(ValueError):
    """The policy file is malformed; the message names the rule."""


@dataclass(frozen=True)
class Step:
    """One action template of a ladder rung."""

    action: str
    target: str = "{service}"
    verify: str = "none"
    attempts: int = 1
    verify_timeout_s: float | None = None
    params: dict[str, str] = field(default_factory=dict)

    def resolve_target(self, service: str, target: str | None) -> str:
        return self.target.replace("{service}", service).replace("{target}", target or service)


@dataclass(frozen=True)
class Rule:
    match: dict[str, frozenset[str]]
    ladder: tuple[tuple[Step, ...], ...]
    notify: bool = False
    index: int = 0

    def matches(self, type_: str, root_cause: str | None, service: str) -> bool:
        values = {"type": type_, "root_cause": root_cause or "", "service": service}
        return all(values[k] in allowed for k, allowed in self.match.items())


@dataclass(frozen=True)
class Policy:
    version: str
    rules: tuple[Rule, ...]
    verify_timeout_s: float = 30.0

    def rule_for(self, type_: str, root_cause: str | None, service: str) -> Rule | None:
        """The most specific matching rule (most keys); the first in the file on a tie."""
        found = [r for r in self.rules if r.matches(type_, root_cause, service)]
        if not found:
            return None
        return min(found, key=lambda r: (-len(r.match), r.index))

    def actions(self) -> set[str]:
        return {s.action for r in self.rules for rung in r.ladder for s in rung}


def _step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict) or "action" not in raw:
        raise PolicyError(f"{where}: a step needs an 'action'")
    verify = str(raw.get("verify", "none" if raw["action"] == "alert" else "quiet"))
    if verify not in VERIFICATIONS:
        raise PolicyError(f"{where}: unknown verify {verify!r} (known: {', '.join(sorted(VERIFICATIONS))})")
    attempts = int(raw.get("attempts", 1))
    if attempts < 1:
        raise PolicyError(f"{where}: attempts must be >= 1")
    timeout = raw.get("verify_timeout_s")
    params = {str(k): str(v) for k, v in raw.items() if k not in _STEP_KEYS}
    return Step(
        action=str(raw["action"]),
        target=str(raw.get("target", "{service}")),
        verify=verify,
        attempts=attempts,
        verify_timeout_s=float(timeout) if timeout is not None else None,
        params=params,
    )


def parse_policy(raw: Any, known_actions: set[str] | None = None, check_step: StepCheck | None = None) -> Policy:
    """Validate a parsed YAML document; unknown keys, actions and types fail loudly at start.

    ``check_step`` (the action registry's) refuses a step its action cannot carry out: a parameter it
    does not know, a target it does not act on, a verification that cannot prove it.
    """
    if not isinstance(raw, dict) or "version" not in raw:
        raise PolicyError("the policy needs a top-level 'version'")
    rules = []
    for i, entry in enumerate(raw.get("rules") or []):
        where = f"rule {i + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("match"), dict):
            raise PolicyError(f"{where}: needs a 'match' mapping")
        match: dict[str, frozenset[str]] = {}
        for key, value in entry["match"].items():
            if key not in {"type", "root_cause", "service"}:
                raise PolicyError(f"{where}: cannot match on {key!r}")
            values = frozenset(str(v) for v in (value if isinstance(value, list) else [value]))
            unknown = values - (INCIDENT_TYPES if key == "type" else ROOT_CAUSES if key == "root_cause" else values)
            if unknown:
                raise PolicyError(f"{where}: unknown {key} {sorted(unknown)}")
            match[key] = values
        ladder = []
        for j, rung in enumerate(entry.get("ladder") or []):
            rung_where = f"{where} rung {j + 1}"
            if isinstance(rung, dict) and "any_of" in rung:
                steps = tuple(_step(s, rung_where) for s in rung["any_of"])
                if not steps:
                    raise PolicyError(f"{rung_where}: any_of is empty")
            else:
                steps = (_step(rung, rung_where),)
            for s in steps:
                if known_actions is not None and s.action not in known_actions:
                    raise PolicyError(f"{rung_where}: unknown action {s.action!r}")
                if check_step is not None:
                    try:
                        check_step(s.action, s.target, s.verify, s.params)
                    except ValueError as exc:
                        raise PolicyError(f"{rung_where}: {exc}") from exc
            ladder.append(steps)
        rules.append(Rule(match=match, ladder=tuple(ladder), notify=bool(entry.get("notify", False)), index=i))
    defaults = raw.get("defaults") or {}
    return Policy(
        version=str(raw["version"]),
        rules=tuple(rules),
        verify_timeout_s=float(defaults.get("verify_timeout_s", 30.0)),
    )


def load_policy(path: Path, known_actions: set[str] | None = None, check_step: StepCheck | None = None) -> Policy:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read policy {path}: {exc}") from exc
    return parse_policy(raw, known_actions, check_step)

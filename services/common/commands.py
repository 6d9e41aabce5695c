"""Reading a Command event (schemas/Command.avsc): one parser for the trainer, inference and ingest.

A command names its ``target`` service, the ``command`` and string ``params``. Each service says which
commands and params it knows; anything else addressed to it is a :class:`CommandError`, which the bus
dead-letters with the reason (a command is never dropped in silence).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from services.common.bus import ContractError

# Who asked and why (the healer's action, the incident): carried for the audit trail, not acted on.
CONTEXT_PARAMS = frozenset({"action_id", "fingerprint", "incident_type", "root_cause"})
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


class CommandError(ContractError):
    """A command addressed to this service that it cannot obey as written (dead-lettered with the reason)."""


def command_for(value: Mapping[str, Any], target: str, known: Collection[str]) -> str | None:
    """The command of an event addressed to ``target``; None when it is for another service."""
    if value.get("target") != target:
        return None
    command = str(value.get("command", ""))
    if command not in known:
        raise CommandError(f"unknown {target} command {command!r}; expected one of {', '.join(known)}")
    return command


def params_of(value: Mapping[str, Any], command: str, known: Collection[str]) -> Mapping[str, str]:
    """The command's params, refusing any it does not know (context params aside)."""
    params: Mapping[str, str] = value.get("params") or {}
    unknown = set(params) - set(known) - CONTEXT_PARAMS
    if unknown:
        raise CommandError(f"unknown {command} params {sorted(unknown)}; known: {', '.join(sorted(known))}")
    return params


def bool_param(params: Mapping[str, str], name: str, default: bool) -> bool:
    if name not in params:
        return default
    text = str(params[name]).lower()
    if text not in _TRUE + _FALSE:
        raise CommandError(f"param {name} must be true or false, got {params[name]!r}")
    return text in _TRUE


def positive_param(params: Mapping[str, str], name: str, kind: type[float] | type[int]) -> Any:
    """The param as a number > 0, or None when it is absent."""
    if name not in params:
        return None
    try:
        number = kind(params[name])
    except ValueError:
        raise CommandError(f"param {name} must be a {kind.__name__}, got {params[name]!r}") from None
    if not number > 0:
        raise CommandError(f"param {name} must be > 0, got {params[name]!r}")
    return number

"""Reading a Command event (schemas/Command.avsc): one parser for the trainer, inference and ingest.

A command names its ``target`` service, the ``command`` and string ``params``. Each service says which
commands and params it knows; anything else addressed to it is a :class:`CommandError`, which the bus
dead-letters with the reason (a command is never dropped in silence).

Commands are signed: anyone who can write to the ``commands`` topic could otherwise retrain, roll back
or quarantine. The signature is an HMAC-SHA256 of the canonical command with the signer's key, from
the environment: ``AIG_COMMAND_KEY`` for the guard's own commands (the healer), ``AIG_OPERATOR_KEY``
for a person's. Risky commands (a retrain that skips the validation gate) need the operator key.
A service refuses (dead-letters, with the reason, and counts) every command addressed to it that is
unsigned, signed with a key it does not hold, or signed by a signer not allowed to ask for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Literal

from prometheus_client import Counter

from services.common.bus import ContractError
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)

Signer = Literal["healer", "operator"]
SIGNER_KEYS: dict[str, str] = {"healer": "command_key", "operator": "operator_key"}  # signer -> settings field
REFUSED = Counter(
    "aig_commands_refused_total", "Commands addressed to this service refused as unauthenticated", ["service", "reason"]
)

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


def positive_param(
    params: Mapping[str, str], name: str, kind: type[float] | type[int], maximum: float | None = None
) -> Any:
    """The param as a finite number > 0 (and at most ``maximum``), or None when it is absent."""
    if name not in params:
        return None
    try:
        number = kind(params[name])
    except (ValueError, OverflowError):
        raise CommandError(f"param {name} must be a {kind.__name__}, got {params[name]!r}") from None
    if not (number > 0 and math.isfinite(number)):
        raise CommandError(f"param {name} must be a finite number > 0, got {params[name]!r}")
    if maximum is not None and number > maximum:
        raise CommandError(f"param {name} must be at most {maximum:g}, got {params[name]!r}")
    return number


def canonical_command(record: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: every field that decides what the command does, in one fixed form."""
    ts = record.get("ts")
    if isinstance(ts, datetime):
        ts = int(ts.timestamp() * 1000)
    body = {
        "event_id": record.get("event_id"),
        "ts": ts,
        "source": record.get("source"),
        "command": record.get("command"),
        "target": record.get("target"),
        "reason": record.get("reason") or "",
        "incident_id": record.get("incident_id"),
        "params": {str(k): str(v) for k, v in (record.get("params") or {}).items()},
        "signer": record.get("signer"),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def _mac(record: Mapping[str, Any], key: str) -> str:
    return hmac.new(key.encode("utf-8"), canonical_command(record), hashlib.sha256).hexdigest()


def sign_command(record: Mapping[str, Any], settings: CommonSettings, signer: Signer = "healer") -> dict[str, Any]:
    """``record`` signed with the ``signer``'s key; raises CommandError when that key is not configured."""
    field = SIGNER_KEYS[signer]
    key = settings.secret(field)
    if not key:
        raise CommandError(f"cannot sign as {signer}: AIG_{field.upper()} is not set")
    signed = {**record, "signer": signer}
    signed["signature"] = _mac(signed, key)
    return signed


def authenticate_command(value: Mapping[str, Any], settings: CommonSettings, *, operator_only: str = "") -> str:
    """The signer of a command addressed to this service; CommandError (refused, counted) when it is not
    signed by a key this service holds. ``operator_only``: why only the operator key may ask for it."""
    signer = value.get("signer")
    signature = value.get("signature")
    what = f"{value.get('command')!r} command from {value.get('source')!r}"
    reason = ""
    if not signature or signer not in SIGNER_KEYS:
        reason, why = "unsigned", f"unsigned {what} refused: commands must be signed (AIG_COMMAND_KEY)"
    else:
        key = settings.secret(SIGNER_KEYS[str(signer)])
        if not key:
            reason, why = "no_key", f"{what} signed by {signer} refused: this service holds no {signer} key"
        elif not hmac.compare_digest(str(signature).encode("utf-8", "surrogatepass"), _mac(value, key).encode()):
            reason, why = "bad_signature", f"{what} refused: its {signer} signature does not match"
        elif operator_only and signer != "operator":
            reason, why = "needs_operator", f"{what} refused: {operator_only} needs the operator key"
    if reason:
        REFUSED.labels(settings.service_name, reason).inc()
        log.warning("command refused (%s): %s", reason, why)
        raise CommandError(why)
    return str(signer)

"""Ingest logic: contract check, quality counting, command parsing. No I/O."""

from __future__ import annotations

from typing import Any

from services.common.bus import ContractError, Out
from services.common.commands import command_for
from services.common.events import header
from services.common.model.features import RAW_NUMERIC
from services.ingest import metrics
from services.ingest.contract import CheckResult, Contract

PAUSE, RESUME = "pause_ingest", "resume_ingest"


def count_quality(result: CheckResult, path: str) -> None:
    for name in result.nulls:
        metrics.NULLS.labels(name).inc()
    for name in result.out_of_range:
        metrics.OUT_OF_RANGE.labels(name).inc()
    for v in result.violations:
        metrics.REJECTED.labels(v.field, v.reason).inc()
    (metrics.ACCEPTED if result.ok else metrics.REJECTED_EVENTS).labels(path).inc()


def validate(contract: Contract, value: dict[str, Any], path: str = "kafka") -> Out:
    """The event for ``interactions.valid``; raises ContractError("field: reason; ...") when it breaks the contract."""
    result = contract.check(value)
    count_quality(result, path)
    if not result.ok:
        raise ContractError(result.message())
    return Out("interactions.valid", value, key=value["member_id"])


def with_header(event: dict[str, Any], source: str) -> dict[str, Any]:
    """HTTP clients may leave out event_id, ts and source; ingest fills them in."""
    missing = {k: v for k, v in header(source).items() if k not in event or event[k] is None}
    return {**event, **missing} if missing else event


def normalise_http(event: dict[str, Any]) -> dict[str, Any]:
    """JSON has no int/float distinction the Avro schema needs: whole numbers for double fields become floats.

    An integer too large for a double (a 400-digit number) raises ContractError: the event is refused
    with its reason, like any other value the contract cannot take.
    """
    out = dict(event)
    for name in RAW_NUMERIC:
        v = out.get(name)
        if isinstance(v, int) and not isinstance(v, bool):
            try:
                out[name] = float(v)
            except OverflowError:
                raise ContractError(f"{name}: integer of {len(str(abs(v)))} digits is too large for a number") from None
    if "remote" not in out:
        out["remote"] = False
    return out


def pause_command(value: dict[str, Any], service_name: str) -> bool | None:
    """True to pause, False to resume, None when the command is not for ingest (CommandError: unknown)."""
    command = command_for(value, service_name, (PAUSE, RESUME))
    return None if command is None else command == PAUSE

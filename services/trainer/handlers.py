"""Pure decisions of the trainer: which rows to train on, the validation gate, commands, events.

No I/O here; :mod:`services.trainer.training` feeds these functions with data from PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from services.common.commands import bool_param, command_for, params_of, positive_param
from services.common.events import derived_id, header
from services.common.model.bundle import LabelledRow

TRAINER_COMMANDS = ("retrain", "rollback")
# What a ModelPublished event says about a version. ``refused``: a command was not obeyed (too few rows,
# nothing to roll back to); it still answers that command, so whoever asked is not left waiting.
ModelStatus = Literal["live", "rejected", "rolled_back", "refused"]


@dataclass(frozen=True)
class TrainerCommand:
    event_id: str
    command: str
    reason: str
    incident_id: str | None
    force: bool = False
    window_hours: float | None = None
    max_rows: int | None = None
    since_ms: int | None = None  # learn only from interactions at or after this time (a detected change)


TRAINER_PARAMS = frozenset({"force", "gated", "window_hours", "max_rows", "since_ms"})
# Bounds a command's numbers must keep: beyond them a date or a duration cannot even be computed.
MAX_WINDOW_HOURS = 24 * 366 * 10  # ten years of rows
MAX_ROWS = 10**9
LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant a datetime holds


def parse_command(value: Mapping[str, Any], target: str = "trainer") -> TrainerCommand | None:
    """The trainer's reading of a Command event; ``None`` when the command is for another service."""
    command = command_for(value, target, TRAINER_COMMANDS)
    if command is None:
        return None
    params = params_of(value, command, TRAINER_PARAMS)
    force = bool_param(params, "force", False)
    gated = bool_param(params, "gated", True)
    max_rows = positive_param(params, "max_rows", int, MAX_ROWS)
    since_ms = positive_param(params, "since_ms", int, LATEST_MS)
    return TrainerCommand(
        event_id=str(value["event_id"]),
        command=command,
        reason=str(value.get("reason") or ""),
        incident_id=value.get("incident_id"),
        force=force or not gated,  # an ungated retrain publishes the candidate whatever the gate says
        window_hours=positive_param(params, "window_hours", float, MAX_WINDOW_HOURS),
        max_rows=int(max_rows) if max_rows is not None else None,
        since_ms=int(since_ms) if since_ms is not None else None,
    )


def select_window(rows: Sequence[LabelledRow], window: timedelta | None, max_rows: int) -> list[LabelledRow]:
    """The newest ``max_rows`` rows no older than ``window`` before the newest row, oldest first.

    The window is anchored at the newest labelled row, not the wall clock, so a replayed or
    simulated stream trains on its own recent past.
    """
    ordered = sorted(rows, key=lambda r: r.ts)[-max_rows:] if max_rows > 0 else []
    if window is None or not ordered:
        return ordered
    start = ordered[-1].ts - window
    return [r for r in ordered if r.ts >= start]


def split_holdout(
    rows: Sequence[LabelledRow], fraction: float, min_holdout: int = 50
) -> tuple[list[LabelledRow], list[LabelledRow]]:
    """Time split: the most recent ``fraction`` of the rows (at least ``min_holdout``) is held out."""
    n_hold = max(min_holdout, math.ceil(len(rows) * fraction))
    if n_hold >= len(rows):
        raise ValueError(f"{len(rows)} rows are too few to hold out {n_hold} and still train")
    ordered = sorted(rows, key=lambda r: r.ts)
    return ordered[:-n_hold], ordered[-n_hold:]


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str
    checks: dict[str, float] = field(default_factory=dict)


def gate(
    candidate: Mapping[str, float],
    live: Mapping[str, float] | None,
    auc_tolerance: float,
    logloss_tolerance: float,
    min_auc: float,
) -> GateDecision:
    """Publish a candidate only if it is at least as good as the live model on the same held-out rows.

    "At least as good" means AUC no lower than live minus ``auc_tolerance`` and log loss no higher
    than live plus ``logloss_tolerance``. Without a live model the candidate must beat ``min_auc``.
    """
    c_auc, c_ll = candidate.get("auc", math.nan), candidate.get("logloss", math.nan)
    if not math.isfinite(c_auc) or not math.isfinite(c_ll):
        return GateDecision(False, "candidate metrics are undefined (held-out rows hold one class)")
    if c_auc < min_auc:
        return GateDecision(False, f"candidate AUC {c_auc:.4f} is below the floor {min_auc:.4f}")
    if live is None:
        return GateDecision(True, f"AUC {c_auc:.4f}, log loss {c_ll:.4f}; no live model to compare with")
    l_auc, l_ll = live.get("auc", math.nan), live.get("logloss", math.nan)
    checks = {"live_auc": l_auc, "live_logloss": l_ll, "candidate_auc": c_auc, "candidate_logloss": c_ll}
    problems = []
    if math.isfinite(l_auc) and c_auc < l_auc - auc_tolerance:
        problems.append(f"AUC {c_auc:.4f} < live {l_auc:.4f} - {auc_tolerance}")
    if math.isfinite(l_ll) and c_ll > l_ll + logloss_tolerance:
        problems.append(f"log loss {c_ll:.4f} > live {l_ll:.4f} + {logloss_tolerance}")
    if problems:
        return GateDecision(False, "candidate worse than live on held-out data: " + "; ".join(problems), checks)
    return GateDecision(
        True,
        f"candidate AUC {c_auc:.4f} vs live {l_auc:.4f}, log loss {c_ll:.4f} vs live {l_ll:.4f}",
        checks,
    )


def rollback_target(history: Sequence[tuple[int, str]], current: int) -> int | None:
    """The version to restore: the most recent formerly-live version that was not itself rolled back.

    ``history`` is the live-pointer history, newest first, as (version, that version's status now).
    """
    for version, status in history:
        if version != current and status == "retired":
            return version
    return None


def model_event(
    *,
    source: str,
    model_name: str,
    version: int,
    status: ModelStatus,
    artifact_uri: str,
    metrics: Mapping[str, float],
    params: Mapping[str, Any],
    reason: str,
    previous_version: int | None,
    profile: list[dict[str, Any]] | None = None,
    command_id: str | None = None,
) -> dict[str, Any]:
    """A ModelPublished record; with a command, its id derives from the command's and it carries the command id,
    so the one who asked can tell its own answer from the answers to other commands."""
    event_id = derived_id(f"model.{status}.{version}", command_id) if command_id else None
    return {
        **header(source, event_id=event_id),
        "model_name": model_name,
        "version": version,
        "status": status,
        "previous_version": previous_version,
        "artifact_uri": artifact_uri,
        # An undefined metric (NaN: e.g. AUC on one class) is left out rather than sent as NaN.
        "metrics": {k: float(v) for k, v in metrics.items() if math.isfinite(v)},
        "params": {k: str(v) for k, v in params.items()},
        "reason": reason,
        "profile": profile or [],
        "command_id": command_id,
    }


def refused_event(
    *, source: str, model_name: str, command_id: str, reason: str, live_version: int | None, artifact_uri: str = ""
) -> dict[str, Any]:
    """The answer to a command that was not obeyed: the live version (0 when none) is unchanged."""
    return model_event(
        source=source,
        model_name=model_name,
        version=live_version or 0,
        status="refused",
        artifact_uri=artifact_uri,
        metrics={},
        params={},
        reason=reason,
        previous_version=None,
        command_id=command_id,
    )


def answers_for(command_id: str, recorded: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The recorded answers of a replayed command, each carrying its id (answers recorded before the
    field existed lack it)."""
    return [{**r, "command_id": r.get("command_id") or command_id} for r in recorded]

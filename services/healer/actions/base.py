"""What every action receives and returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from services.common.events import derived_id, header
from services.healer.handlers import IncidentView, PlannedStep

if TYPE_CHECKING:
    from services.healer.alerts import Alerter
    from services.healer.safety import SafetyStore
    from services.healer.settings import HealerSettings


class TargetMissing(LookupError):
    """The action's target does not exist (or is not ours): refused, never retried blindly."""


@dataclass
class ActionContext:
    settings: HealerSettings
    incident: IncidentView
    step: PlannedStep
    action_id: str
    attempt: int
    publish_command: Callable[[dict[str, Any]], None]
    docker: Callable[[], Any]
    safety: SafetyStore
    alerter: Alerter


@dataclass
class ActionResult:
    ok: bool
    detail: dict[str, str] = field(default_factory=dict)
    error: str = ""
    command_id: str | None = None  # the Command sent, whose answer verifies the action


def command_sent(record: dict[str, Any], command: str) -> ActionResult:
    """The result of an action that is a Command: its id is what the verification waits an answer to."""
    return ActionResult(
        True, {"command_event_id": record["event_id"], "command": command}, command_id=record["event_id"]
    )


class Action(Protocol):
    name: str

    def execute(self, ctx: ActionContext) -> ActionResult: ...


def command_record(ctx: ActionContext, command: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """A Command event derived from the action id, so a replayed action yields the same command id."""
    inc = ctx.incident
    params = {
        "fingerprint": inc.fingerprint,
        "incident_type": inc.type,
        "root_cause": inc.root_cause or "",
        "action_id": ctx.action_id,
        **ctx.step.params,
        **(extra or {}),
    }
    return {
        **header(ctx.settings.service_name, event_id=derived_id(f"command:{command}", ctx.action_id)),
        "command": command,
        "target": ctx.step.target,
        "reason": f"{inc.type} on {inc.service}: {inc.summary}".strip(),
        "incident_id": inc.incident_id,
        "params": {k: str(v) for k, v in params.items()},
    }


class CommandAction:
    """An action that is a Command event on the `commands` topic for another service."""

    name = "command"
    command = "command"
    extra: dict[str, str] = {}

    def execute(self, ctx: ActionContext) -> ActionResult:
        record = command_record(ctx, self.command, self.extra)
        ctx.publish_command(record)
        return command_sent(record, self.command)

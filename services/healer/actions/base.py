"""The action contract: how an action is built, what it declares, what it receives and returns.

Every action is built the same way, ``Action(params)``, through :func:`.registry.create`, and
declares what a policy step may ask of it (its targets, the verifications that can prove it, its
parameters), so :func:`.registry.check_step` can refuse a step it cannot carry out before it is tried.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from services.common.events import derived_id, header
from services.healer.handlers import IncidentView, PlannedStep

if TYPE_CHECKING:
    from services.healer.alerts import Alerter
    from services.healer.safety import SafetyStore
    from services.healer.settings import HealerSettings


class TargetMissing(LookupError):
    """The action's target does not exist (or is not ours): refused, never retried blindly."""


class ActionError(ValueError):
    """An action was asked for something it does not do: an unknown parameter, target or verification."""


# Verifications that watch the problem itself end (no fresh incident, the reports stopped): they can
# prove any action that is meant to fix it.
OBSERVED = frozenset({"quiet", "recovered"})


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


class Action(ABC):
    """A healing action plugin.

    ``name`` is its registry key (a policy step's ``action``); ``targets`` the services it acts on
    (None: any service, the step's target names it); ``verifications`` the step ``verify`` values that
    can prove it worked; ``params_help`` the step parameters it takes, any other is refused when it is
    built. A policy step's parameters arrive with the step (``ctx.step.params``) over the ones the
    action was built with.
    """

    name: ClassVar[str]
    targets: ClassVar[frozenset[str] | None]
    verifications: ClassVar[frozenset[str]]
    params_help: ClassVar[dict[str, str]] = {}

    def __init__(self, params: Mapping[str, str] | None = None) -> None:
        self.params = dict(params or {})
        unknown = set(self.params) - set(self.params_help)
        if unknown:
            known = ", ".join(sorted(self.params_help)) or "none"
            raise ActionError(f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}; known: {known}")

    def step_params(self, ctx: ActionContext) -> dict[str, str]:
        """The parameters of this execution: the step's, over the ones the action was built with."""
        return {**self.params, **ctx.step.params}

    @abstractmethod
    def execute(self, ctx: ActionContext) -> ActionResult:
        """Carry the step out once; raise TargetMissing for a target that is not there (or not ours)."""


def command_record(
    ctx: ActionContext, command: str, params: Mapping[str, str], extra: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A Command event derived from the action id, so a replayed action yields the same command id."""
    inc = ctx.incident
    merged = {
        "fingerprint": inc.fingerprint,
        "incident_type": inc.type,
        "root_cause": inc.root_cause or "",
        "action_id": ctx.action_id,
        **params,
        **(extra or {}),
    }
    record = {
        **header(ctx.settings.service_name, event_id=derived_id(f"command:{command}", ctx.action_id)),
        "command": command,
        "target": ctx.step.target,
        "reason": f"{inc.type} on {inc.service}: {inc.summary}".strip(),
        "incident_id": inc.incident_id,
        "params": {k: str(v) for k, v in merged.items()},
    }
    return record


class CommandAction(Action):
    """An action that is a Command event on the `commands` topic for the service that obeys it.

    ``delivered`` proves only that the command reached Kafka; the watched problem ending proves more.
    """

    command: ClassVar[str]
    extra: ClassVar[dict[str, str]] = {}
    verifications = OBSERVED | {"delivered"}

    def execute(self, ctx: ActionContext) -> ActionResult:
        record = command_record(ctx, self.command, self.step_params(ctx), self.extra)
        ctx.publish_command(record)
        return command_sent(record, self.command)

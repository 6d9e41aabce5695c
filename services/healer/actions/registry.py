"""Action name -> implementation. Add an action by writing a module and listing its class here."""

from __future__ import annotations

from collections.abc import Mapping

from services.healer.actions.alert import Alert
from services.healer.actions.base import Action, ActionError
from services.healer.actions.pause_ingest import PauseIngest
from services.healer.actions.reload import Reload
from services.healer.actions.restart_container import RestartContainer
from services.healer.actions.resume_ingest import ResumeIngest
from services.healer.actions.retrain import Retrain
from services.healer.actions.rollback import Rollback
from services.healer.actions.wait import Wait

ACTIONS: dict[str, type[Action]] = {
    cls.name: cls for cls in (RestartContainer, Retrain, Rollback, PauseIngest, ResumeIngest, Reload, Wait, Alert)
}


def create(name: str, params: Mapping[str, str] | None = None) -> Action:
    """Build an action; unknown names and parameters raise ActionError."""
    try:
        cls = ACTIONS[name]
    except KeyError:
        raise ActionError(f"unknown action {name!r}; known: {', '.join(sorted(ACTIONS))}") from None
    return cls(params)


# What the engine executes: each action built once, without parameters (a step's arrive with the step).
REGISTRY: dict[str, Action] = {name: create(name) for name in ACTIONS}


def get_action(name: str) -> Action:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown action {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def known_actions() -> set[str]:
    return set(REGISTRY)


def check_step(name: str, target: str, verify: str, params: Mapping[str, str]) -> None:
    """Refuse (ActionError) a policy step its action cannot carry out: an unknown parameter, a target it
    does not act on, or a verification that cannot prove it. ``target`` may be a ``{service}`` template."""
    cls = type(create(name, params))
    if cls.targets is not None and target not in cls.targets:
        raise ActionError(f"{name}: acts on {', '.join(sorted(cls.targets))}, not {target!r}")
    if verify not in cls.verifications:
        raise ActionError(f"{name}: cannot be verified by {verify!r}; by: {', '.join(sorted(cls.verifications))}")

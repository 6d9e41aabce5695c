"""Action name -> implementation."""

from __future__ import annotations

from services.healer.actions.alert import Alert
from services.healer.actions.base import Action
from services.healer.actions.pause_ingest import PauseIngest
from services.healer.actions.reload import Reload
from services.healer.actions.restart_container import RestartContainer
from services.healer.actions.resume_ingest import ResumeIngest
from services.healer.actions.retrain import Retrain
from services.healer.actions.rollback import Rollback
from services.healer.actions.wait import Wait

REGISTRY: dict[str, Action] = {
    a.name: a
    for a in (RestartContainer(), Retrain(), Rollback(), PauseIngest(), ResumeIngest(), Reload(), Wait(), Alert())
}


def get_action(name: str) -> Action:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown action {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def known_actions() -> set[str]:
    return set(REGISTRY)

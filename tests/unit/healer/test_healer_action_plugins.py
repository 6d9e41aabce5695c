"""Every healing action in the registry keeps the plugin contract (services.healer.actions.base).

A new action fails here until it is built like the others, is documented, declares what it acts on
and what can prove it, refuses a parameter it does not take, and fits the shipped policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

import services
from services.healer.actions.base import Action, ActionContext, ActionError, CommandAction
from services.healer.actions.registry import ACTIONS, REGISTRY, check_step, create, get_action, known_actions
from services.healer.handlers import PlannedStep
from services.healer.policy import VERIFICATIONS, load_policy
from services.healer.settings import HealerSettings
from tests.support.plugins import built_like_a_plugin
from tests.unit.healer.healer_fixtures import SALARY_DRIFT

NAMES = sorted(ACTIONS)
SERVICES_DIR = Path(services.__file__).parent
POLICY = Path(services.__file__).parent / "healer" / "policy.yaml"


@pytest.mark.parametrize("name", NAMES)
def test_action_is_documented_and_built_like_every_other(name: str) -> None:
    cls = ACTIONS[name]
    params = built_like_a_plugin(cls, name, Action)
    assert list(params) == ["self", "params"] and params["params"].default is None
    assert type(create(name)) is cls
    # The engine's instance is the registry's, built the same way.
    assert type(get_action(name)) is cls and REGISTRY[name].params == {}


@pytest.mark.parametrize("name", NAMES)
def test_action_declares_its_targets_and_verifications(name: str) -> None:
    cls = ACTIONS[name]
    assert hasattr(cls, "targets") and hasattr(cls, "verifications"), f"{name} must declare both"
    if cls.targets is not None:
        assert cls.targets, f"{name}: an empty target set acts on nothing"
        for target in cls.targets:
            assert (SERVICES_DIR / target / "__main__.py").is_file(), f"{name}: {target!r} is no service"
    assert cls.verifications and cls.verifications <= VERIFICATIONS, sorted(cls.verifications - VERIFICATIONS)


@pytest.mark.parametrize("name", NAMES)
def test_action_takes_its_declared_parameters_and_refuses_any_other(name: str) -> None:
    cls = ACTIONS[name]
    assert all(isinstance(text, str) and text.strip() for text in cls.params_help.values())
    declared = {p: "1" for p in cls.params_help}
    assert create(name, declared).params == declared
    with pytest.raises(ActionError, match=rf"^{name}: unknown parameter\(s\) colour; known: "):
        create(name, {**declared, "colour": "red"})


def test_unknown_action_is_refused_by_name() -> None:
    with pytest.raises(ActionError, match="unknown action 'reboot_universe'; known: alert"):
        create("reboot_universe")
    with pytest.raises(KeyError, match="unknown action"):
        get_action("reboot_universe")
    assert known_actions() == set(ACTIONS)


def test_every_step_of_the_shipped_policy_fits_its_action() -> None:
    policy = load_policy(POLICY, known_actions())
    steps = [s for rule in policy.rules for rung in rule.ladder for s in rung]
    assert {s.action for s in steps} == policy.actions() and steps
    for s in steps:
        check_step(s.action, s.target, s.verify, s.params)


def test_a_step_an_action_cannot_carry_out_is_refused() -> None:
    with pytest.raises(ActionError, match="retrain: acts on trainer, not 'inference'"):
        check_step("retrain", "inference", "model_live", {})
    with pytest.raises(ActionError, match="restart_container: cannot be verified by 'model_live'"):
        check_step("restart_container", "{service}", "model_live", {})
    with pytest.raises(ActionError, match="unknown parameter"):
        check_step("wait", "{target}", "recovered", {"quiet": "20"})


@pytest.mark.parametrize("name", [n for n in NAMES if issubclass(ACTIONS[n], CommandAction)])
def test_command_action_sends_its_command_with_the_step_parameters_over_its_own(name: str) -> None:
    cls = cast(type[CommandAction], ACTIONS[name])
    built = {p: "built" for p in cls.params_help}
    step_params = {p: "step" for p in list(cls.params_help)[-1:]}
    target = sorted(cls.targets)[0] if cls.targets else "inference"
    sent: list[dict[str, Any]] = []
    ctx = ActionContext(
        settings=HealerSettings(),
        incident=SALARY_DRIFT,
        step=PlannedStep(name, target, "delivered", 30.0, 0, params=step_params),
        action_id="a-1",
        attempt=1,
        publish_command=sent.append,
        docker=lambda: None,
        safety=cast(Any, None),
        alerter=cast(Any, None),
    )
    result = create(name, built).execute(ctx)
    assert result.ok and result.command_id == sent[0]["event_id"]
    command = sent[0]
    assert command["command"] == cls.command and command["target"] == target
    assert command["params"]["action_id"] == "a-1" and command["params"]["fingerprint"] == SALARY_DRIFT.fingerprint
    for p in cls.params_help:
        if p in cls.extra or p not in command["params"]:
            continue  # the action's own value wins, or it is the action's to read, not to forward
        assert command["params"][p] == ("step" if p in step_params else "built")

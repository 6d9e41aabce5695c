"""The default policy: every incident type has an answer, and the answers respect the product rules."""

from __future__ import annotations

import pytest

from services.common.incidents import INCIDENT_TYPES, ROOT_CAUSES
from services.healer.actions.registry import known_actions
from services.healer.policy import PolicyError, load_policy, parse_policy
from services.healer.settings import DEFAULT_POLICY

POLICY = load_policy(DEFAULT_POLICY, known_actions())


def ladder_actions(type_: str, root_cause: str | None = None, service: str = "inference") -> list[str]:
    rule = POLICY.rule_for(type_, root_cause, service)
    assert rule is not None, f"no rule for {type_}/{root_cause}"
    return [s.action for rung in rule.ladder for s in rung]


def test_policy_is_versioned_and_covers_every_incident_type_and_root_cause() -> None:
    assert POLICY.version == "5"
    for type_ in INCIDENT_TYPES:
        assert POLICY.rule_for(type_, None, "inference") is not None
    for cause in ROOT_CAUSES:
        assert POLICY.rule_for("log_error", cause, "feature") is not None


@pytest.mark.parametrize("type_", ["service_down", "service_hung"])
def test_infra_faults_restart_and_never_retrain(type_: str) -> None:
    actions = ladder_actions(type_)
    assert actions[0] == "restart_container"
    assert "retrain" not in actions and actions[-1] == "alert"


@pytest.mark.parametrize("cause", sorted(ROOT_CAUSES - {"model_error", "data_quality"}))
def test_log_errors_of_infrastructure_causes_are_never_answered_by_retraining(cause: str) -> None:
    assert "retrain" not in ladder_actions("log_error", cause)


def test_skew_quarantines_instead_of_retraining_on_wrong_units() -> None:
    actions = ladder_actions("skew")
    assert actions[0] == "pause_ingest" and "retrain" not in actions and actions[-1] == "alert"


def test_concept_drift_gets_a_gated_retrain_and_a_bad_model_a_rollback() -> None:
    rule = POLICY.rule_for("concept_drift", None, "inference")
    assert rule is not None
    first = rule.ladder[0][0]
    assert (first.action, first.target, first.params.get("gated"), first.verify) == (
        "retrain",
        "trainer",
        "True",
        "model_live",
    )
    assert ladder_actions("model_error")[0] == "rollback"
    assert ladder_actions("log_error", "model_error")[0] == "rollback"


def test_data_quality_quarantines_and_alerts() -> None:
    rule = POLICY.rule_for("data_quality", None, "ingest")
    assert rule is not None and rule.notify
    assert ladder_actions("data_quality") == ["pause_ingest", "alert"]


def test_benign_log_errors_take_no_action() -> None:
    assert ladder_actions("log_error", "benign") == []


def test_most_specific_rule_wins() -> None:
    assert ladder_actions("log_error", "out_of_memory")[0] == "restart_container"
    assert ladder_actions("log_error", None) == ["alert"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"rules": []}, "version"),
        ({"version": 1, "rules": [{"match": {"type": "nope"}, "ladder": []}]}, "unknown type"),
        ({"version": 1, "rules": [{"match": {"colour": "red"}, "ladder": []}]}, "cannot match"),
        ({"version": 1, "rules": [{"match": {"type": "skew"}, "ladder": [{"action": "reboot"}]}]}, "unknown action"),
        (
            {"version": 1, "rules": [{"match": {"type": "skew"}, "ladder": [{"action": "alert", "verify": "x"}]}]},
            "unknown verify",
        ),
    ],
)
def test_malformed_policies_fail_loudly(doc: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(doc, known_actions())


def test_a_step_its_action_cannot_carry_out_is_refused_at_load() -> None:
    from services.healer.actions.registry import check_step

    raw = {
        "version": "t",
        "rules": [
            {
                "match": {"type": "skew"},
                "ladder": [
                    {"action": "pause_ingest", "target": "ingest", "verify": "health", "params": {"colour": "red"}}
                ],
            }
        ],
    }
    with pytest.raises(PolicyError, match=r"rule 1 rung 1: pause_ingest: unknown parameter"):
        parse_policy(raw, known_actions(), check_step)
    assert load_policy(DEFAULT_POLICY, known_actions(), check_step).rules  # the shipped policy passes

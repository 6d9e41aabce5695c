"""decide(): updates of open episodes, new episodes after resolved ones, dedupe, allowlist refusals,
attempt caps, bad input."""

from __future__ import annotations

import random
from typing import Any

import pytest

from services.healer.actions.registry import known_actions
from services.healer.handlers import (
    BadIncident,
    BadInputNote,
    FingerprintState,
    attribute_to_bad_input,
    decide,
    episode_status,
    is_bad_input,
    validate_incident,
)
from services.healer.learning import MemoryStats, thompson_order
from services.healer.policy import load_policy, parse_policy
from services.healer.settings import DEFAULT_POLICY, PIPELINE_SERVICES

POLICY = load_policy(DEFAULT_POLICY, known_actions())
ALLOWED = set(PIPELINE_SERVICES)


def incident(**kw: Any) -> dict[str, Any]:
    base = {
        "event_id": "e1",
        "ts": 2_000,
        "source": "drift",
        "incident_id": "i1",
        "fingerprint": "fp1",
        "type": "service_down",
        "root_cause": None,
        "service": "inference",
        "target": None,
        "severity": "critical",
        "summary": "inference died",
        "explanation": "",
        "count": 1,
        "first_seen": 1_000,
        "last_seen": 2_000,
        "evidence": {},
    }
    base.update(kw)
    return base


def test_service_down_plans_restarts_then_a_human() -> None:
    d = decide(validate_incident(incident()), None, POLICY, ALLOWED, max_attempts=3)
    assert d.kind == "act"
    assert [(p.action, p.target) for p in d.plan] == [
        ("restart_container", "inference"),
        ("restart_container", "inference"),
        ("alert", "human"),
    ]
    assert d.plan[0].params["grace_s"] == "3"


def test_max_attempts_caps_the_remedies_but_keeps_the_human() -> None:
    d = decide(validate_incident(incident()), None, POLICY, ALLOWED, max_attempts=1)
    assert [p.action for p in d.plan] == ["restart_container", "alert"]


def test_an_episode_in_progress_turns_every_report_into_an_update_of_it() -> None:
    state = FingerprintState("other", "acting", 0)
    for report in (incident(), incident(incident_id="other", count=7)):
        d = decide(validate_incident(report), state, POLICY, ALLOWED, 3)
        assert d.kind == "update" and d.episode == state and d.plan == ()
        assert "incident other with this fingerprint is being healed" in d.reason


def test_an_escalated_episode_keeps_its_fingerprint_however_late_a_new_incident_comes() -> None:
    state = FingerprintState("old", "escalated", 100_000)
    d = decide(validate_incident(incident(incident_id="i2")), state, POLICY, ALLOWED, 3, now_ms=10**12, cooldown_s=60)
    assert d.kind == "update" and d.episode == state and d.plan == ()
    assert "escalated to a human" in d.reason


def test_the_same_incident_id_is_handled_once() -> None:
    state = FingerprintState("i1", "resolved", 0)
    d = decide(validate_incident(incident()), state, POLICY, ALLOWED, 3, now_ms=10**9, cooldown_s=1)
    assert d.kind == "duplicate" and not d.recurrence


def test_after_a_resolved_episode_a_fresh_incident_starts_a_new_one_even_within_the_cooldown() -> None:
    state = FingerprintState("old", "resolved", 100_000)
    d = decide(validate_incident(incident(incident_id="i2")), state, POLICY, ALLOWED, 3, now_ms=101_000, cooldown_s=60)
    assert d.kind == "act" and d.plan[0].action == "restart_container"
    assert "recurred after incident old ended (resolved)" in d.reason


@pytest.mark.parametrize("status", ["refused", "ignored", "dry_run"])
def test_after_an_episode_without_action_a_recurrence_within_the_cooldown_is_a_duplicate(status: str) -> None:
    state = FingerprintState("old", episode_status(status), 100_000)
    inc = validate_incident(incident(incident_id="i2"))
    within = decide(inc, state, POLICY, ALLOWED, 3, now_ms=150_000, cooldown_s=60)
    assert within.kind == "duplicate" and within.recurrence
    after = decide(inc, state, POLICY, ALLOWED, 3, now_ms=161_000, cooldown_s=60)
    assert after.kind == "act"


def test_episode_statuses_are_checked_when_read_back() -> None:
    state = FingerprintState.from_dict({"incident_id": "i", "status": "escalated", "updated_ms": 5})
    assert state.is_open and not FingerprintState("i", "resolved", 5).is_open
    with pytest.raises(ValueError, match="unknown episode status 'done'"):
        FingerprintState.from_dict({"incident_id": "i", "status": "done", "updated_ms": 5})


def test_a_target_outside_the_allowlist_is_refused_and_only_the_human_remains() -> None:
    d = decide(validate_incident(incident(service="postgres-prod")), None, POLICY, ALLOWED, 3)
    assert d.kind == "refuse"
    assert {r.target for r in d.refusals} == {"postgres-prod"}
    assert "allowlist" in d.reason
    assert [p.action for p in d.plan] == ["alert"]


def test_benign_log_error_is_ignored() -> None:
    d = decide(validate_incident(incident(type="log_error", root_cause="benign")), None, POLICY, ALLOWED, 3)
    assert d.kind == "ignore" and d.plan == ()


def test_concept_drift_retrains_the_trainer_and_model_error_rolls_back() -> None:
    d = decide(validate_incident(incident(type="concept_drift")), None, POLICY, ALLOWED, 3)
    assert (d.plan[0].action, d.plan[0].target, d.notify) == ("retrain", "trainer", True)
    d = decide(validate_incident(incident(type="model_error")), None, POLICY, ALLOWED, 3)
    assert (d.plan[0].action, d.plan[0].target) == ("rollback", "trainer")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"type": "meteor_strike"}, "unknown incident type"),
        ({"fingerprint": ""}, "missing fingerprint"),
        ({"service": None, "incident_id": None}, "missing incident_id, service"),
        ({"first_seen": "yesterday"}, "non-numeric"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(BadIncident, match=message):
        validate_incident(incident(**patch))


def test_thompson_sampling_orders_alternatives_inside_a_rung_only() -> None:
    policy = parse_policy(
        {
            "version": 1,
            "rules": [
                {
                    "match": {"type": "log_error"},
                    "ladder": [
                        {"any_of": [{"action": "restart_container"}, {"action": "reload", "target": "inference"}]},
                        {"action": "alert"},
                    ],
                }
            ],
        },
        known_actions(),
    )
    stats = MemoryStats()
    for _ in range(40):
        stats.record("log_error/timeout", "reload", True)
        stats.record("log_error/timeout", "restart_container", False)
    rng = random.Random(7)
    inc = validate_incident(incident(type="log_error", root_cause="timeout"))
    firsts = []
    for _ in range(50):
        d = decide(inc, None, policy, ALLOWED, 3, order_rung=lambda c, s: thompson_order(c, s, stats, rng))
        assert d.plan[-1].action == "alert"  # the learner never moves an action out of its rung
        assert {p.action for p in d.plan[:2]} == {"restart_container", "reload"}
        firsts.append(d.plan[0].action)
    assert firsts.count("reload") >= 48


def test_thompson_sampling_explores_when_nothing_is_known() -> None:
    policy_steps = load_policy(DEFAULT_POLICY, known_actions()).rule_for("log_error", "timeout", "x")
    assert policy_steps is not None
    rung = policy_steps.ladder[0]
    rng = random.Random(1)
    firsts = {thompson_order("c", rung, MemoryStats(), rng)[0].action for _ in range(50)}
    assert firsts == {"restart_container", "reload"}


def _note(last_seen: int) -> BadInputNote:
    return BadInputNote("bad-1", "log_error/schema_mismatch", last_seen)


@pytest.mark.parametrize("kind", ["data_drift", "concept_drift"])
def test_a_drift_soon_after_bad_input_is_its_echo_and_goes_to_a_human(kind: str) -> None:
    drift = validate_incident(incident(type=kind, incident_id="d1", first_seen=50_000))
    echo = attribute_to_bad_input(drift, _note(last_seen=40_000), settle_ms=20_000)
    assert echo.root_cause == "upstream_data" and echo.evidence["bad_input_incident"] == "bad-1"
    d = decide(echo, None, POLICY, ALLOWED, 3)
    assert [p.action for p in d.plan] == ["alert"], "retraining on bad input would learn the fault"


def test_a_drift_long_after_bad_input_or_with_its_own_cause_is_judged_on_its_own() -> None:
    late = validate_incident(incident(type="data_drift", first_seen=70_001))
    assert attribute_to_bad_input(late, _note(last_seen=50_000), settle_ms=20_000) is late
    caused = validate_incident(incident(type="concept_drift", root_cause="model_error", first_seen=50_000))
    assert attribute_to_bad_input(caused, _note(last_seen=50_000), settle_ms=20_000) is caused
    assert attribute_to_bad_input(late, None, settle_ms=20_000) is late
    crash = validate_incident(incident(type="service_down", first_seen=50_000))
    assert attribute_to_bad_input(crash, _note(last_seen=50_000), settle_ms=20_000) is crash


@pytest.mark.parametrize(
    ("kind", "cause", "bad"),
    [
        ("skew", None, True),
        ("data_quality", "data_quality", True),
        ("log_error", "schema_mismatch", True),
        ("log_error", "data_quality", True),
        ("log_error", "dependency_unavailable", False),
        ("data_drift", None, False),
    ],
)
def test_what_counts_as_bad_input(kind: str, cause: str | None, bad: bool) -> None:
    assert is_bad_input(validate_incident(incident(type=kind, root_cause=cause))) is bad

"""The demo's scorecard: detection, type, target, wrong actions by family, false incidents in calm."""

from __future__ import annotations

from typing import Any

from loadgen.scoring import EXPECTED, Window, acted, final_word, render, score_fault, scorecard, skipped


def inc(
    seen: float,
    type_: str,
    *,
    target: str | None = None,
    service: str = "inference",
    root_cause: str | None = None,
    incident_id: str | None = None,
) -> dict[str, Any]:
    iid = incident_id or f"i-{type_}-{target}-{seen}"
    return {
        "_seen": seen,
        "incident_id": iid,
        "fingerprint": f"{type_}:{target}",
        "type": type_,
        "target": target,
        "service": service,
        "root_cause": root_cause,
        "summary": f"{type_} here",
    }


def act(
    seen: float, incident: dict[str, Any], action: str, status: str, target: str = "inference", reason: str = ""
) -> dict[str, Any]:
    return {
        "_seen": seen,
        "action_id": f"a-{action}-{incident['incident_id']}",
        "incident_id": incident["incident_id"],
        "fingerprint": incident["fingerprint"],
        "action": action,
        "target": target,
        "status": status,
        "reason": reason,
    }


CALM = Window("calm", 0.0, 100.0)


def test_a_detected_and_healed_crash_passes_with_its_times() -> None:
    w = Window("crash", 100.0, 200.0, "crash")
    down = inc(101.5, "service_down", target="aig-demo-inference")
    acts = [
        act(102.0, down, "restart_container", "executed"),
        act(104.0, down, "restart_container", "succeeded"),
        {**act(104.1, down, "restart_container", "resolved"), "action_id": "resolved"},
    ]
    score = score_fault(w, [down], acts)
    assert score.ok and score.kind_ok and score.on_ok  # "inference" is the incident's service
    assert score.detected_s == 1.5
    assert score.outcome == "resolved by restart_container"
    assert score.recovered_s is not None and abs(score.recovered_s - 4.1) < 1e-9
    assert score.actions == ["restart_container->inference [succeeded]", "restart_container->inference [resolved]"]
    card = scorecard(CALM, [w], [down], acts)
    assert card.ok
    assert render(card)[-1].startswith("PASS")


def test_wrong_incident_type_fails() -> None:
    w = Window("crash", 100.0, 200.0, "crash")
    hung = inc(103.0, "service_hung")
    score = score_fault(w, [hung], [])
    assert score.detected and not score.kind_ok and not score.ok
    assert score.outcome == "wrong incident type"
    assert score.detected_s == 3.0  # no incident of the right type: the first one is shown


def test_a_log_error_needs_its_root_cause() -> None:
    w = Window("redis", 0.0, 100.0, "dependency")
    unknown = inc(5.0, "log_error", target="redis", service="feature", root_cause="unknown")
    assert not score_fault(w, [unknown], []).ok
    right = inc(6.0, "log_error", target="redis", service="feature", root_cause="dependency_unavailable")
    score = score_fault(w, [unknown, right], [])
    assert score.ok and score.incident is right and score.others == ["log_error/unknown on redis"]


def test_the_target_is_reported_and_the_matching_one_preferred() -> None:
    w = Window("nulls", 0.0, 100.0, "null_burst")
    feature = EXPECTED["null_burst"].on
    other = inc(2.0, "data_quality", target="dwell_s")
    assert score_fault(w, [other], []).kind_ok and not score_fault(w, [other], []).on_ok
    mine = inc(3.0, "data_quality", target=feature)
    score = score_fault(w, [other, mine], [])
    assert score.incident is mine and score.on_ok


def test_wrong_actions_by_family() -> None:
    crash = Window("crash", 0.0, 50.0, "crash")
    down = inc(1.0, "service_down")
    retrain = act(2.0, down, "retrain", "executed", target="trainer")
    assert score_fault(crash, [down], [retrain]).wrong == ["retrain->trainer"]
    nulls = Window("nulls", 50.0, 100.0, "null_burst")
    dq = inc(51.0, "data_quality", target=EXPECTED["null_burst"].on)
    restart = act(52.0, dq, "restart_container", "executed")
    pause = act(52.0, dq, "pause_ingest", "executed", target="ingest")
    assert score_fault(nulls, [dq], [restart]).wrong == ["restart_container->inference"]
    assert score_fault(nulls, [dq], [pause]).wrong == []
    drift = Window("drift", 100.0, 150.0, "concept_drift")
    cd = inc(101.0, "concept_drift", target="job_apply")
    assert score_fault(drift, [cd], [act(102.0, cd, "retrain", "executed", target="trainer")]).ok
    assert not score_fault(drift, [cd], [act(102.0, cd, "restart_container", "executed")]).ok
    # A refusal is the guard working, not a wrong action taken.
    assert score_fault(drift, [cd], [act(102.0, cd, "restart_container", "refused")]).wrong == []


def test_a_false_incident_in_calm_fails_the_run() -> None:
    w = Window("crash", 100.0, 200.0, "crash")
    down = inc(101.0, "service_down")
    false = inc(50.0, "data_drift", target="hour_sin")
    card = scorecard(CALM, [w], [false, down], [])
    assert not card.ok and card.calm == [false]
    assert card.faults[0].ok
    assert any(line.startswith("FAIL calm phase") for line in render(card))


def test_not_detected_fails() -> None:
    w = Window("feature drift", 0.0, 100.0, "feature_drift")
    score = score_fault(w, [], [])
    assert not score.detected and not score.ok and score.outcome == "not detected"
    assert not scorecard(CALM, [w], [], []).ok


def test_records_belong_to_the_window_they_arrive_in_and_updates_count_once() -> None:
    crash = Window("crash", 100.0, 200.0, "crash")
    hang = Window("hang", 200.0, 300.0, "hang")
    down = inc(150.0, "service_down")
    update = {**down, "_seen": 210.0}  # the open incident re-sent: not a new one in the hang window
    late = act(205.0, down, "retrain", "executed", target="trainer")  # arrives in the hang window
    card = scorecard(CALM, [crash, hang], [down, update], [late])
    by = {f.fault: f for f in card.faults}
    assert by["crash"].ok and by["crash"].wrong == []
    assert not by["hang"].detected
    assert by["hang"].wrong == ["retrain->trainer"]


def test_a_skipped_fault_or_a_missing_calm_phase_fails() -> None:
    w = Window("hang", 100.0, 200.0, "hang")
    hung = inc(102.0, "service_hung")
    assert scorecard(CALM, [w], [hung], []).ok
    assert not scorecard(CALM, [w], [hung], [], [skipped("crash", "crash", "no Docker")]).ok
    assert not scorecard(None, [w], [hung], []).ok


def test_escalation_is_an_outcome_with_its_reason() -> None:
    w = Window("drift", 0.0, 400.0, "feature_drift")
    dd = inc(3.0, "data_drift", target=EXPECTED["feature_drift"].on)
    acts = [
        act(4.0, dd, "retrain", "executed", target="trainer"),
        {
            **act(90.0, dd, "alert", "escalated", target="human", reason="1 attempt(s) did not fix it"),
            "action_id": "esc",
        },
    ]
    score = score_fault(w, [dd], acts)
    assert score.ok and score.outcome == "escalated: 1 attempt(s) did not fix it" and score.recovered_s is None


def test_the_final_word_is_a_resolution_an_escalation_or_a_refusal_left_standing() -> None:
    redis_down = inc(10.0, "log_error", target="redis", service="feature", root_cause="dependency_unavailable")
    refused = act(
        12.0,
        redis_down,
        "restart_container",
        "refused",
        target="redis",
        reason="target 'redis' is outside the allowlist",
    )
    assert final_word(redis_down, [refused], now=13.0) is None  # a cooldown refusal is followed at once
    assert final_word(redis_down, [refused], now=20.0) is refused
    crash = inc(1.0, "service_down")
    steps = [
        act(1.5, crash, "restart_container", "refused", reason="cooldown"),
        {**act(4.0, crash, "restart_container", "resolved"), "action_id": "done"},
    ]
    assert final_word(crash, steps, now=4.1) is steps[1]


def test_an_update_of_an_open_episode_is_no_action() -> None:
    again = inc(10.0, "concept_drift", target="job_apply")
    update = act(10.5, again, "none", "updated", reason="incident x with this fingerprint is escalated to a human")
    assert not acted(again, [update])
    assert final_word(again, [update], now=100.0) is None
    w = Window("concept drift", 0.0, 200.0, "concept_drift")
    score = score_fault(w, [again], [update])
    assert score.ok and score.actions == [] and score.outcome.startswith("no action: incident x")
    assert acted(again, [act(11.0, again, "retrain", "executed", target="trainer")])


def test_a_real_drift_blamed_on_bad_data_is_the_wrong_root_cause() -> None:
    w = Window("concept", 0.0, 100.0, "concept_drift")
    blamed = inc(5.0, "concept_drift", target="job_apply", root_cause="upstream_data")
    assert not score_fault(w, [blamed], []).ok
    right = inc(6.0, "concept_drift", target="job_apply")
    assert score_fault(w, [right], []).ok
    assert "not upstream_data" in EXPECTED["concept_drift"].describe()

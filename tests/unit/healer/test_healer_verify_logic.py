"""Verification by the trainer's answer: only events carrying the action's own command id count."""

from __future__ import annotations

from typing import Any

from services.healer.handlers import PlannedStep
from services.healer.verify import Probe, judge_retrain, judge_rollback
from tests.unit.healer.healer_fixtures import SALARY_DRIFT

RETRAIN = Probe(SALARY_DRIFT, PlannedStep("retrain", "trainer", "model_live", 30, 0), 1_000, "cmd-x")
ROLLBACK = Probe(SALARY_DRIFT, PlannedStep("rollback", "trainer", "model_rolled_back", 30, 0), 1_000, "cmd-r")


def answer(status: str, version: int, previous: int | None = None, reason: str = "") -> dict[str, Any]:
    return {
        "event_id": f"ev-{status}-{version}",
        "model_name": "job_apply",
        "version": version,
        "status": status,
        "previous_version": previous,
        "reason": reason,
        "ts": 2_000,
    }


def test_a_live_answer_verifies_the_retrain_and_names_the_version() -> None:
    check = judge_retrain(RETRAIN, [answer("live", 3, 2)])
    assert check.ok and check.final and "v3 went live" in check.detail
    assert check.evidence == {
        "command_id": "cmd-x",
        "model_version": "3",
        "model_status": "live",
        "model_event_id": "ev-live-3",
    }


def test_a_rejection_or_refusal_is_a_final_failure_with_the_trainers_reason() -> None:
    gate = "candidate worse than live on held-out data: AUC 0.61 < live 0.80 - 0.005"
    rejected = judge_retrain(RETRAIN, [answer("rejected", 4, 3, f"drift: {gate}")])
    assert not rejected.ok and rejected.final and gate in rejected.detail and "v4" in rejected.detail
    refused = judge_retrain(RETRAIN, [answer("refused", 3, reason="retrain not obeyed: 12 labelled rows")])
    assert not refused.ok and refused.final and "12 labelled rows" in refused.detail


def test_without_an_answer_the_wait_goes_on_and_without_a_command_it_cannot_succeed() -> None:
    waiting = judge_retrain(RETRAIN, [])
    assert not waiting.ok and not waiting.final and "cmd-x" in waiting.detail
    orphan = judge_retrain(Probe(SALARY_DRIFT, RETRAIN.step, 1_000, None), [answer("live", 3, 2)])
    assert not orphan.ok and orphan.final


def test_a_rollback_is_verified_by_its_own_answer_and_names_the_restored_version() -> None:
    half = judge_rollback(ROLLBACK, [answer("rolled_back", 3, 2)])
    assert not half.ok and not half.final  # the restored version is announced right after
    check = judge_rollback(ROLLBACK, [answer("rolled_back", 3, 2), answer("live", 2, 3)])
    assert check.ok and "v3 rolled back, v2 live again" in check.detail and check.evidence["model_version"] == "2"
    refused = judge_rollback(ROLLBACK, [answer("refused", 1, reason="rollback not obeyed: no earlier live version")])
    assert not refused.ok and refused.final and "no earlier live version" in refused.detail
    assert not judge_rollback(ROLLBACK, [answer("live", 4, 3)]).ok  # a newer model is not a rollback

"""Pure safety arithmetic, alert text and postmortem rendering."""

from __future__ import annotations

from datetime import UTC, datetime

from services.healer.alerts import incident_alert
from services.healer.audit import action_event, render_postmortem
from services.healer.handlers import validate_incident
from services.healer.learning import posterior_mean
from services.healer.safety import backoff_delay, budget_allows


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(n, 2.0, 10.0) for n in range(0, 6)] == [0.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_budget() -> None:
    assert budget_allows(19, 20) and not budget_allows(20, 20)


def test_posterior_mean_moves_with_evidence() -> None:
    assert posterior_mean(0, 0) == 0.5
    assert posterior_mean(8, 0) > 0.85 > posterior_mean(0, 8) + 0.7


INC = validate_incident(
    {
        "event_id": "e",
        "incident_id": "i-9",
        "fingerprint": "service_down:inference",
        "type": "service_down",
        "service": "inference",
        "target": "aig-inference-1",
        "summary": "inference died",
        "count": 3,
        "explanation": "The container exited with code 137.",
        "first_seen": 1_000,
        "last_seen": 3_000,
        "root_cause": "out_of_memory",
    }
)


def test_alert_text_is_plain_english_with_cause_count_and_id() -> None:
    subject, text = incident_alert(INC, "escalated to a human", "Why: 2 attempt(s) did not fix it.")
    assert subject.startswith("[warning] service_down on inference")
    assert "Service down on inference (aig-inference-1): escalated to a human." in text
    assert "Likely cause: out_of_memory. Seen 3 time(s). Incident i-9." in text
    assert "Why: 2 attempt(s) did not fix it." in text


def test_action_event_ids_are_stable_per_action_and_status() -> None:
    a = action_event("healer", INC, "act-1", "restart_container", "inference", "executed")
    b = action_event("healer", INC, "act-1", "restart_container", "inference", "executed")
    c = action_event("healer", INC, "act-1", "restart_container", "inference", "succeeded")
    assert a["event_id"] == b["event_id"] != c["event_id"]
    assert a["fingerprint"] == "service_down:inference" and a["dry_run"] is False


def test_postmortem_has_every_section() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    text = render_postmortem(
        {
            "incident_id": "i-9",
            "fingerprint": "fp",
            "type": "service_down",
            "service": "inference",
            "status": "resolved",
            "severity": "critical",
            "summary": "inference died",
            "explanation": "exit 137",
            "root_cause": "out_of_memory",
            "target": None,
            "evidence": {"exit_code": "137"},
            "first_seen": t,
            "received_at": t,
            "resolved_at": t,
            "time_to_detect_ms": 400,
            "time_to_recover_ms": 6_500,
        },
        [
            {
                "ts": t,
                "action": "restart_container",
                "target": "inference",
                "status": "executed",
                "attempt": 1,
                "reason": "policy 3 rule 1",
            }
        ],
        [
            {
                "action": "restart_container",
                "target": "inference",
                "success": True,
                "detail": "running",
                "incident_class": "service_down/out_of_memory",
                "duration_ms": 6_100,
            }
        ],
    )
    for section in ("## Summary", "## Root cause", "## Evidence", "## Timeline", "## Actions", "## What was learned"):
        assert section in text
    assert "Time to recover: 6.50 s" in text and "- exit_code: 137" in text
    assert "restart_container worked for service_down/out_of_memory in 6.1 s" in text

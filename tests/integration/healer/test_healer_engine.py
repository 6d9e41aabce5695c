"""The healer against real Kafka, Redis and PostgreSQL: commands, storms, replicas, safety, alerts, audit."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from healer_itest_support import (
    healer_redis_cleanup,
    healer_settings,
    incident,
    make_healer,
    running_healer,
    smtp_receiver,
    webhook_receiver,
)

from kit.kafka import read_topic
from kit.wait import poll
from services.common.bus import EventProducer, StreamProcessor
from services.common.commands import authenticate_command
from services.common.events import header
from services.common.http import create_app
from services.healer.api import add_routes
from services.healer.service import handler

pytestmark = pytest.mark.infra
__all__ = ["healer_redis_cleanup"]  # an autouse fixture: the import is its registration


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, params).fetchall())


def audited(dsn: str, incident_id: str) -> list[tuple[Any, ...]]:
    """The (action, status, reason) rows audited for one incident, in the order they were written."""
    return rows(dsn, "SELECT action, status, reason FROM actions WHERE incident_id = %s ORDER BY ts", incident_id)


def model_event(status: str, version: int, previous: int | None, command_id: str | None) -> dict[str, Any]:
    """What the trainer publishes in answer to the command ``command_id``."""
    return {
        **header("trainer"),
        "model_name": "apply",
        "version": version,
        "status": status,
        "previous_version": previous,
        "artifact_uri": "file:///m",
        "metrics": {},
        "params": {},
        "reason": "",
        "profile": [],
        "command_id": command_id,
    }


def test_concept_drift_leads_to_a_gated_retrain_command_and_resolves_when_a_new_model_is_live(
    topic_prefix: str, pg_dsn: str
) -> None:
    settings = healer_settings(topic_prefix)
    with running_healer(settings, synchronous=False) as healer:
        inc = incident(type="concept_drift", service="inference", summary="label error rate rose (DDM)")
        assert healer.on_incident(inc).kind == "act"
        commands = read_topic(settings, "commands", until=1, timeout_s=20)
        assert [(c["command"], c["target"], c["incident_id"]) for c in commands] == [
            ("retrain", "trainer", inc["incident_id"])
        ]
        assert commands[0]["params"]["gated"] == "true"
        # What the trainer will check: signed by the guard, over the command exactly as sent.
        assert authenticate_command(commands[0], settings) == "healer"
        assert "fresh_data" not in commands[0]["params"] and commands[0]["params"]["since_ms"]
        healer.on_model_event(model_event("live", 7, 6, command_id=None))  # the trainer acting on its own
        healer.on_model_event(model_event("live", 2, 1, commands[0]["event_id"]))  # its answer to this command
        assert healer.wait_idle(30)
        status, ttd, ttr = rows(
            pg_dsn,
            "SELECT status, time_to_detect_ms, time_to_recover_ms FROM incidents WHERE incident_id = %s",
            inc["incident_id"],
        )[0]
        assert status == "resolved" and ttd is not None and ttr >= ttd
        actions = read_topic(settings, "actions", until=3, timeout_s=20)
        assert [a["status"] for a in actions] == ["executed", "succeeded", "resolved"]
        assert actions[1]["detail"]["model_version"] == "2"
        assert actions[1]["detail"]["command_id"] == commands[0]["event_id"]
        assert healer.stats.get("concept_drift/-", "retrain") == (1, 0)
        # the postmortem is served over HTTP
        client = TestClient(add_routes(create_app(settings), healer.auditor))
        listed = client.get("/incidents").json()
        assert any(i["incident_id"] == inc["incident_id"] and i["status"] == "resolved" for i in listed)
        text = client.get(f"/incidents/{inc['incident_id']}/postmortem").text
        assert "# Postmortem: concept_drift on inference" in text and "retrain worked" in text
        assert client.get("/incidents/nope/postmortem").status_code == 404


def test_model_error_leads_to_a_rollback_command(topic_prefix: str, pg_dsn: str) -> None:
    settings = healer_settings(topic_prefix)
    with running_healer(settings, synchronous=False) as healer:
        inc = incident(type="model_error", service="inference", summary="the live model predicts NaN")
        healer.on_incident(inc)
        commands = read_topic(settings, "commands", until=1, timeout_s=20)
        assert (commands[0]["command"], commands[0]["target"]) == ("rollback", "trainer")
        healer.on_model_event(model_event("rolled_back", 2, 1, commands[0]["event_id"]))
        healer.on_model_event(model_event("live", 1, 2, commands[0]["event_id"]))
        assert healer.wait_idle(30)
        assert rows(pg_dsn, "SELECT status FROM incidents WHERE incident_id = %s", inc["incident_id"]) == [
            ("resolved",)
        ]


def test_a_storm_of_1000_copies_on_two_replicas_yields_one_action(topic_prefix: str, pg_dsn: str) -> None:
    settings = healer_settings(topic_prefix)
    inc = incident(type="data_quality", service="ingest", summary="40% of rows fail the contract")
    producer = EventProducer(settings)
    started = time.monotonic()
    for i in range(1000):
        copy = {**inc, **header("drift"), "count": i + 1, "last_seen": inc["last_seen"] + i}
        if i >= 800:  # the detector re-raises it as new incidents: reports of the same problem
            copy["incident_id"] = f"{inc['incident_id']}-{i}"
        producer.produce("incidents", copy, inc["fingerprint"])
    producer.flush()
    produced_s = time.monotonic() - started
    replicas = []
    stop = threading.Event()
    threads = []
    try:
        for n in range(2):  # two replicas in separate groups: both see every copy (the worst case)
            healer, pool = make_healer(settings, synchronous=False)
            proc = StreamProcessor(
                settings, ["incidents", "model.events"], f"healer-storm-{n}-{topic_prefix}", handler(healer)
            )
            replicas.append((healer, pool, proc))
            t = threading.Thread(target=proc.run, args=(stop,), daemon=True)
            t.start()
            threads.append(t)
        poll(lambda: all(p.processed >= 1000 for _, _, p in replicas), 90, every_s=0.2)
        assert all(p.processed >= 1000 for _, _, p in replicas), [p.processed for _, _, p in replicas]
        for healer, _, _ in replicas:
            assert healer.wait_idle(30)
        handled_s = time.monotonic() - started
        commands = read_topic(settings, "commands", timeout_s=5)
        assert [c["command"] for c in commands] == ["pause_ingest"]
        executed = rows(
            pg_dsn, "SELECT count(*) FROM actions WHERE fingerprint = %s AND status = 'executed'", inc["fingerprint"]
        )
        assert executed == [(1,)]
        dups = replicas[0][0].safety.duplicates(inc["fingerprint"])
        print(
            f"\nstorm: 1000 copies produced in {produced_s:.2f} s, handled by 2 replicas in {handled_s:.2f} s; "
            f"1 action, {dups} copies recorded as updates or duplicates"
        )
        assert dups >= 1998
        # the re-raised incidents were not dropped: each is recorded on the open episode, or reopened it once
        # (the quarantine is not repeated within its cooldown, so that episode went to a human)
        statuses = [s for (s,) in rows(pg_dsn, "SELECT status FROM actions WHERE fingerprint = %s", inc["fingerprint"])]
        assert statuses.count("updated") >= 1 and statuses.count("executed") == 1
    finally:
        stop.set()
        for t in threads:
            t.join(20)
        for healer, pool, _ in replicas:
            healer.close()
            pool.close()


def test_two_replicas_racing_on_one_incident_act_once(topic_prefix: str, pg_dsn: str) -> None:
    settings = healer_settings(topic_prefix)
    a, pool_a = make_healer(settings, synchronous=True)
    b, pool_b = make_healer(settings, synchronous=True)
    inc = incident(type="data_quality", service="ingest")
    barrier = threading.Barrier(8)
    kinds: list[str] = []

    def feed(h: Any) -> None:
        barrier.wait()
        for _ in range(50):
            kinds.append(h.on_incident({**inc, **header("drift")}).kind)

    try:
        threads = [threading.Thread(target=feed, args=(h,)) for h in (a, b) * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        # Copies of the same incident id are replays: "duplicate", or "update" when one lands while the
        # episode runs and is merged into it; which of the two depends on timing, acting twice never.
        assert kinds.count("act") == 1 and set(kinds) - {"act"} <= {"update", "duplicate"}
        assert [c["command"] for c in read_topic(settings, "commands", timeout_s=5)] == ["pause_ingest"]
    finally:
        for h, p in ((a, pool_a), (b, pool_b)):
            h.close()
            p.close()


def test_targets_outside_the_project_and_bad_input_are_refused_and_audited(
    topic_prefix: str, pg_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = healer_settings(topic_prefix, max_attempts=1)
    with running_healer(settings) as healer:
        outsider = incident(service="payments-db")
        assert healer.on_incident(outsider).kind == "refuse"
        # allowlisted, but no container of this compose project runs it
        missing = incident(service="feature")
        healer.on_incident(missing)
        bad = [
            incident(type="meteor_strike"),
            {k: v for k, v in incident().items() if k not in ("fingerprint", "service")},
            incident(first_seen="yesterday"),
        ]
        for value in bad:
            assert healer.on_incident(value).kind == "refuse"
        ids = [outsider["incident_id"], missing["incident_id"], *[b["incident_id"] for b in bad]]
        audit = rows(
            pg_dsn, "SELECT incident_id, action, target, status, reason FROM actions WHERE incident_id = ANY(%s)", ids
        )
        by_incident: dict[str, list[tuple[str, str, str, str]]] = {}
        for iid, *rest in audit:
            by_incident.setdefault(iid, []).append(tuple(rest))
        assert by_incident[outsider["incident_id"]] == [
            ("restart_container", "payments-db", "refused", "target 'payments-db' is outside the allowlist")
        ]
        statuses = {(a, s) for a, _, s, _ in by_incident[missing["incident_id"]]}
        assert ("restart_container", "refused") in statuses and ("alert", "escalated") in statuses
        assert any("no container of compose project" in r for *_, r in by_incident[missing["incident_id"]])
        reasons = [r for b in bad for *_, r in by_incident[b["incident_id"]]]
        assert "unknown incident type" in reasons[0] and "missing fingerprint, service" in reasons[1]
        assert "non-numeric" in reasons[2]
        assert read_topic(settings, "commands", timeout_s=3) == []
        assert "refused an invalid incident" in caplog.text


def test_dry_run_acts_on_nothing_and_says_what_it_would_do(
    topic_prefix: str, pg_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = healer_settings(topic_prefix, dry_run=True)
    with running_healer(settings) as healer:
        drift = incident(type="concept_drift")
        healer.on_incident(drift)
        healer.on_incident(incident(type="service_down", service="inference"))
        assert read_topic(settings, "commands", timeout_s=3) == []
        actions = read_topic(settings, "actions", until=5, timeout_s=10)
        assert {a["status"] for a in actions} == {"dry_run"} and all(a["dry_run"] for a in actions)
        reasons = [a["reason"] for a in actions]
        assert "dry run: would retrain trainer (rung 1), then verify by model_live" in reasons
        assert any(r.startswith("dry run: would restart_container inference") for r in reasons)
        assert "dry run: would retrain trainer" in caplog.text
        assert rows(pg_dsn, "SELECT status FROM incidents WHERE incident_id = %s", drift["incident_id"]) == [
            ("dry_run",)
        ]


def test_after_max_attempts_the_incident_escalates_with_webhook_and_email_alerts(
    topic_prefix: str, pg_dsn: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: test-1\nrules:\n  - match: {type: data_drift}\n    ladder:\n"
        "      - {action: retrain, target: trainer, attempts: 3, verify: model_live, verify_timeout_s: 1}\n"
        "      - {action: alert}\n"
    )
    with webhook_receiver() as (url, hooks), smtp_receiver() as (smtp_port, mails):
        settings = healer_settings(
            topic_prefix,
            policy_path=policy,
            max_attempts=2,
            alert_webhook_url=url,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            alert_email_to=["oncall@example.test"],
        )
        with running_healer(settings) as healer:
            inc = incident(type="data_drift", service="feature", summary="salary_k drifted (ADWIN)")
            started = time.monotonic()
            healer.on_incident(inc)
            elapsed = time.monotonic() - started
            commands = read_topic(settings, "commands", until=2, timeout_s=10)
            assert [c["command"] for c in commands] == ["retrain", "retrain"]  # max_attempts, not 3
            assert elapsed >= 2.1  # two 1 s verifications + 0.1 s backoff
            assert rows(pg_dsn, "SELECT status FROM incidents WHERE incident_id = %s", inc["incident_id"]) == [
                ("escalated",)
            ]
            statuses = [
                s
                for (s,) in rows(
                    pg_dsn, "SELECT status FROM actions WHERE incident_id = %s ORDER BY ts", inc["incident_id"]
                )
            ]
            assert statuses.count("failed") == 2 and statuses[-1] == "escalated"
            assert healer.stats.get("data_drift/-", "retrain") == (0, 2)
            assert len(hooks) == 1 and "escalated to a human" in hooks[0]["text"]
            assert "salary_k drifted (ADWIN)" in hooks[0]["text"]
            assert len(mails) == 1 and "oncall@example.test" in mails[0]["to"]
            assert (
                "Why: 2 attempt(s) did not fix it; last: not verified within 1 s: no answer to retrain command"
                in hooks[0]["text"]
            )
            assert "Why: 2 attempt(s) did not fix it" in mails[0]["data"]
            outcomes = rows(pg_dsn, "SELECT success FROM outcomes WHERE incident_id = %s", inc["incident_id"])
            assert outcomes == [(False,), (False,)]


def test_cooldown_and_budget_are_shared_and_refusals_are_audited(topic_prefix: str, pg_dsn: str) -> None:
    settings = healer_settings(topic_prefix, budget_max_actions=1, budget_window_s=60)
    with running_healer(settings) as healer:
        first = incident(type="data_quality", service="ingest")
        healer.on_incident(first)
        # another problem answered by the same (target, action) within the cooldown: not acted on again;
        # the quarantine that just ran is verified for it instead, and covers it
        other = incident(type="skew", service="inference", target="salary_k")
        healer.on_incident(other)
        audit = audited(pg_dsn, other["incident_id"])
        # (rows written within one millisecond tie on ts: their statuses are checked, not their order)
        refused = [a for a in audit if a[:2] == ("pause_ingest", "refused")]
        assert len(refused) == 1 and refused[0][2].startswith("cooldown"), audit
        assert "verifying that run instead" in refused[0][2]
        assert ("pause_ingest", "resolved") in [a[:2] for a in audit], audit
        # the budget (1 action per minute) is spent: a third incident is refused and escalated
        # (a crash: a drift this soon after bad input would be handed to a human without any action)
        third = incident(type="service_down", service="inference")
        healer.on_incident(third)
        audit = audited(pg_dsn, third["incident_id"])
        refused = [a for a in audit if a[:2] == ("restart_container", "refused")]
        assert len(refused) == 1 and "budget" in refused[0][2], audit
        assert [c["command"] for c in read_topic(settings, "commands", timeout_s=3)] == ["pause_ingest"]


def test_an_episode_interrupted_by_shutdown_is_taken_over_from_its_journal(topic_prefix: str, pg_dsn: str) -> None:
    settings = healer_settings(topic_prefix)
    first, pool_a = make_healer(settings, synchronous=False)
    inc = incident(type="concept_drift")
    try:
        assert first.on_incident(inc).kind == "act"
        sent = read_topic(settings, "commands", until=1, timeout_s=10)  # retrain sent, now verifying
        assert sent
        assert first.safety.get_state(inc["fingerprint"]).status == "acting"
        first.close()  # SIGTERM mid-verification
        assert first.safety.get_state(inc["fingerprint"]) is None
        assert first.safety.journaled_episode(inc["fingerprint"]) is not None  # kept for the next replica
        second, pool_b = make_healer(settings, synchronous=False)
        try:
            # The incident's offset was committed: no copy comes again, the journal is what the next replica
            # resumes. Its own cooldown does not stop it: the same command goes again, with the same id, so
            # the trainer answers it once and that answer verifies the episode.
            again = read_topic(settings, "commands", until=2, timeout_s=20)
            assert [c["event_id"] for c in again] == [sent[0]["event_id"]] * 2
            # a copy delivered after all joins the resumed episode instead of starting another
            assert second.on_incident({**inc, **header("drift")}).kind in ("update", "duplicate")
        finally:
            second.close()
            pool_b.close()
    finally:
        pool_a.close()


def test_a_drift_right_after_a_contract_break_is_not_retrained_on(topic_prefix: str, pg_dsn: str) -> None:
    """The bad-input note is shared in Redis: a second replica sees the first one's contract break."""
    settings = healer_settings(topic_prefix)
    first, pool1 = make_healer(settings, synchronous=True)
    second, pool2 = make_healer(settings, synchronous=True)
    try:
        broken = incident(
            type="log_error",
            root_cause="schema_mismatch",
            service="ingest",
            summary="ingest: 5 schema mismatch errors in 1 s",
        )
        assert first.on_incident(broken).kind == "act"
        drift = incident(
            type="data_drift", service="inference", target="job_views", summary="Feature 'job_views' drifted"
        )
        assert second.on_incident(drift).kind == "act"
        commands = read_topic(settings, "commands", until=None, timeout_s=20)
        # no retrain on the echo of bad input; and records dead-lettered one by one quarantine nothing
        assert [c["command"] for c in commands] == [], commands
        actions = [
            a
            for a in read_topic(settings, "actions", until=None, timeout_s=20)
            if a["incident_id"] == drift["incident_id"]
        ]
        assert [(a["action"], a["status"]) for a in actions] == [("alert", "escalated")]
        assert broken["incident_id"] in actions[0]["reason"] and "bad input" in actions[0]["reason"]
        assert rows(
            pg_dsn, "SELECT root_cause, status FROM incidents WHERE incident_id = %s", drift["incident_id"]
        ) == [("upstream_data", "escalated")]
    finally:
        first.close()
        second.close()
        pool1.close()
        pool2.close()


def test_a_dependency_outside_the_allowlist_is_waited_for_until_its_errors_stop(topic_prefix: str, pg_dsn: str) -> None:
    """Redis is not the healer's to restart: it waits, and resolves only once the reports have stopped."""
    settings = healer_settings(topic_prefix)
    with running_healer(settings, synchronous=False) as healer:
        first = incident(
            type="log_error",
            root_cause="dependency_unavailable",
            service="feature",
            target="redis",
            severity="error",
            summary="feature: 5 dependency unavailable errors in 1 s (redis)",
        )
        started = time.monotonic()
        assert healer.on_incident(first).kind == "act"
        for n in range(2, 6):  # the outage goes on for 12 s: the log-classifier updates the incident
            time.sleep(3)
            update = {**first, **header("test"), "count": 5 * n, "last_seen": first["last_seen"] + 3000 * n}
            healer.on_incident(update)
        stopped = time.monotonic()
        assert healer.wait_idle(90)
        resolved_after = time.monotonic() - stopped
        actions = [
            a
            for a in read_topic(settings, "actions", until=None, timeout_s=20)
            if a["incident_id"] == first["incident_id"]
        ]
        steps = [(a["action"], a["target"], a["status"]) for a in actions if a["status"] != "updated"]
        assert steps == [
            ("restart_container", "redis", "refused"),
            ("wait", "redis", "executed"),
            ("wait", "redis", "succeeded"),
            ("wait", "redis", "resolved"),
        ], steps
        assert "outside the allowlist" in actions[0]["reason"]
        assert resolved_after >= 19, f"resolved {resolved_after:.1f} s after the last report: before it was quiet"
        assert time.monotonic() - started < 60
        assert rows(pg_dsn, "SELECT status FROM incidents WHERE incident_id = %s", first["incident_id"]) == [
            ("resolved",)
        ]

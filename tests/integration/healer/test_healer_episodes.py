"""Episodes of one fingerprint on real Kafka, Redis and PostgreSQL: a report of a problem whose episode is
open (being healed, or escalated to a human) updates that episode; after a resolved episode, a fresh
report starts a new one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from healer_itest_support import (
    healer_redis_cleanup,
    healer_settings,
    incident,
    model_feed,
    running_healer,
    webhook_receiver,
)

from kit.kafka import read_topic
from services.common.bus import EventProducer
from services.common.events import header
from services.common.http import create_app
from services.healer.api import add_routes
from services.healer.settings import HealerSettings

pytestmark = pytest.mark.infra
__all__ = ["healer_redis_cleanup", "model_feed"]  # fixtures: the import is their registration


def one_row(dsn: str, sql: str, *params: Any) -> tuple[Any, ...]:
    with psycopg.connect(dsn) as conn:
        found = conn.execute(sql, params).fetchall()
    assert len(found) == 1, f"expected one row for {params}, got {found}"
    return tuple(found[0])


def actions_until(
    settings: HealerSettings, what: str, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 30
) -> list[dict[str, Any]]:
    """The `actions` topic, read until ``done`` holds (bounded); the failure shows what was there."""
    actions = read_topic(settings, "actions", until=done, timeout_s=timeout_s)
    assert done(actions), f"no {what} on {settings.topic('actions')} within {timeout_s:g} s; it holds:\n" + "\n".join(
        f"  {a['incident_id'][:8]} {a['action']} {a['status']}: {a['reason']}" for a in actions
    )
    return actions


def updated_for(incident_id: str, reported: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda acts: any(
        a["status"] == "updated"
        and a["incident_id"] == incident_id
        and a["detail"].get("reported_incident_id") == reported
        for a in acts
    )


def answer(settings: HealerSettings, command: dict[str, Any], version: int) -> None:
    """The trainer's answer to ``command``: ``version`` went live."""
    record = {
        **header("trainer"),
        "model_name": "apply",
        "version": version,
        "status": "live",
        "previous_version": version - 1,
        "artifact_uri": "file:///m",
        "metrics": {},
        "params": {},
        "reason": "test",
        "profile": [],
        "command_id": command["event_id"],
    }
    producer = EventProducer(settings)
    producer.produce("model.events", record, "apply")
    producer.flush(30)


def test_a_report_of_an_escalated_problem_updates_it_until_a_human_resolves_it(topic_prefix: str) -> None:
    with webhook_receiver() as (url, hooks):
        settings = healer_settings(topic_prefix, alert_webhook_url=url)
        with running_healer(settings) as healer:
            dsn = settings.postgres_dsn
            first = incident(type="log_error", root_cause="unknown", service="feature", count=2)
            assert healer.on_incident(first).kind == "act"  # the policy hands this cause to a human
            assert one_row(dsn, "SELECT status FROM incidents WHERE incident_id = %s", first["incident_id"]) == (
                "escalated",
            )
            later = incident(
                type="log_error",
                root_cause="unknown",
                service="feature",
                count=3,
                fingerprint=first["fingerprint"],
                last_seen=first["last_seen"] + 5_000,
            )
            decision = healer.on_incident(later)
            assert decision.kind == "update" and "escalated to a human" in decision.reason
            assert healer.on_incident(later).kind == "update"  # a redelivered copy is not counted twice
            count, last_seen = one_row(
                dsn,
                "SELECT count, (extract(epoch FROM last_seen) * 1000)::bigint FROM incidents WHERE incident_id = %s",
                first["incident_id"],
            )
            assert (count, last_seen) == (2 + 3, later["last_seen"])
            actions = actions_until(
                settings, "update of the escalated incident", updated_for(first["incident_id"], later["incident_id"])
            )
            update = next(a for a in actions if a["status"] == "updated")
            assert update["detail"]["episode_status"] == "escalated" and update["detail"]["count"] == "3"
            # no new ladder climb: one escalation, one alert, nothing audited under the later incident's id
            assert [a["status"] for a in actions if a["status"] == "escalated"] == ["escalated"]
            assert not [a for a in actions if a["incident_id"] == later["incident_id"]]
            assert len(hooks) == 1

            client = TestClient(add_routes(create_app(settings), healer.auditor, healer.resolve_by_human))
            reply = client.post(f"/incidents/{first['incident_id']}/resolve", json={"note": "config fixed"})
            assert reply.status_code == 200, reply.text
            assert client.post(f"/incidents/{first['incident_id']}/resolve").status_code == 409
            assert client.post("/incidents/nope/resolve").status_code == 404
            assert one_row(dsn, "SELECT status FROM incidents WHERE incident_id = %s", first["incident_id"]) == (
                "resolved",
            )

            fresh = incident(
                type="log_error", root_cause="unknown", service="feature", fingerprint=first["fingerprint"]
            )
            assert healer.on_incident(fresh).kind == "act"  # a new episode
            assert one_row(dsn, "SELECT status FROM incidents WHERE incident_id = %s", fresh["incident_id"]) == (
                "escalated",
            )
            assert len(hooks) == 2


def test_a_report_during_an_episode_updates_it_and_after_it_is_resolved_a_fresh_one_opens_a_new_episode(
    topic_prefix: str, model_feed: Callable[[Any], None]
) -> None:
    settings = healer_settings(topic_prefix, cooldown_s=0)
    with running_healer(settings, synchronous=False) as healer:
        dsn = settings.postgres_dsn
        model_feed(healer)
        drift = incident(type="concept_drift", service="inference", summary="error rate 12% -> 25%")
        assert healer.on_incident(drift).kind == "act"
        first_retrain = read_topic(settings, "commands", until=1, timeout_s=20)
        assert [c["incident_id"] for c in first_retrain] == [drift["incident_id"]]

        again = incident(type="concept_drift", service="inference", fingerprint=drift["fingerprint"], count=4)
        decision = healer.on_incident(again)
        assert decision.kind == "update" and "being healed" in decision.reason
        actions = actions_until(
            settings, "update of the episode in progress", updated_for(drift["incident_id"], again["incident_id"])
        )
        assert next(a for a in actions if a["status"] == "updated")["detail"]["episode_status"] == "acting"

        answer(settings, first_retrain[0], version=2)
        assert healer.wait_idle(60), "the first episode did not finish within 60 s"
        assert one_row(dsn, "SELECT status, count FROM incidents WHERE incident_id = %s", drift["incident_id"]) == (
            "resolved",
            1 + 4,
        )

        fresh = incident(type="concept_drift", service="inference", fingerprint=drift["fingerprint"])
        decision = healer.on_incident(fresh)
        assert decision.kind == "act" and f"recurred after incident {drift['incident_id']}" in decision.reason
        commands = read_topic(settings, "commands", until=2, timeout_s=20)
        assert [c["incident_id"] for c in commands] == [drift["incident_id"], fresh["incident_id"]]
        answer(settings, commands[1], version=3)
        assert healer.wait_idle(60), "the second episode did not finish within 60 s"
        assert one_row(dsn, "SELECT status FROM incidents WHERE incident_id = %s", fresh["incident_id"]) == (
            "resolved",
        )
        actions = actions_until(
            settings,
            "the second episode's success",
            lambda acts: any(a["status"] == "succeeded" and a["incident_id"] == fresh["incident_id"] for a in acts),
        )
        won = {a["incident_id"]: a["detail"]["model_version"] for a in actions if a["status"] == "succeeded"}
        assert won == {drift["incident_id"]: "2", fresh["incident_id"]: "3"}


def test_a_problem_back_within_the_cooldown_goes_to_a_human_instead_of_repeating_the_action(
    topic_prefix: str,
) -> None:
    settings = healer_settings(topic_prefix)  # 60 s cooldown per (target, action)
    with running_healer(settings) as healer:
        dsn = settings.postgres_dsn
        bad = incident(type="data_quality", service="ingest", summary="40% of rows fail the contract")
        assert healer.on_incident(bad).kind == "act"
        assert one_row(dsn, "SELECT status FROM incidents WHERE incident_id = %s", bad["incident_id"]) == ("resolved",)
        back = incident(type="data_quality", service="ingest", fingerprint=bad["fingerprint"])
        assert healer.on_incident(back).kind == "act"  # not swallowed: a new episode
        (status,) = one_row(dsn, "SELECT status FROM incidents WHERE incident_id = %s", back["incident_id"])
        assert status == "escalated"
        (refused,) = one_row(
            dsn, "SELECT reason FROM actions WHERE incident_id = %s AND action = 'pause_ingest'", back["incident_id"]
        )
        assert "of this same problem, which came back; not repeating it" in refused
        assert [c["command"] for c in read_topic(settings, "commands", timeout_s=3)] == ["pause_ingest"]
        still = incident(type="data_quality", service="ingest", fingerprint=bad["fingerprint"])
        assert healer.on_incident(still).kind == "update"  # now held by the escalated episode
        actions_until(
            settings, "update of the escalated episode", updated_for(back["incident_id"], still["incident_id"])
        )

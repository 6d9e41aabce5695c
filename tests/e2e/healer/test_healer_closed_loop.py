"""The healer against the real trainer and inference: a concept drift incident is answered by a gated
retrain that the trainer really performs, and a model_error incident by a rollback that inference serves.

Each step goes through Kafka and PostgreSQL exactly as in production; nothing on either side is simulated.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from kit.kafka import read_topic
from kit.procs import terminate
from kit.wait import wait_until
from loadgen.stack import Stack
from services.common.bus import EventProducer
from services.common.events import header, now_ms

pytestmark = pytest.mark.timeout(420)

RATE = 120


def _model(stack: Stack) -> dict[str, Any]:
    try:
        reply = httpx.get(f"{stack.url('inference')}/model", timeout=2.0)
        return reply.json() if reply.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}


def _incident(type_: str, target: str, summary: str) -> dict[str, Any]:
    event = header("drift")
    return {
        **event,
        "incident_id": event["event_id"],
        "fingerprint": f"{type_}:{target}:{uuid.uuid4().hex[:6]}",
        "type": type_,
        "root_cause": None,
        "service": "inference",
        "target": target,
        "severity": "warning",
        "summary": summary,
        "explanation": summary,
        "count": 1,
        "first_seen": now_ms(),
        "last_seen": now_ms(),
        "evidence": {},
    }


def _outcome(stack: Stack, incident_id: str) -> dict[str, Any] | None:
    actions = read_topic(stack.settings, "actions", timeout_s=3)
    final = [a for a in actions if a["incident_id"] == incident_id and a["status"] in {"resolved", "escalated"}]
    return final[0] if final else None


def test_concept_drift_is_retrained_and_a_bad_model_rolled_back() -> None:
    env = {
        "AIG_MEMBER_WINDOW_S": "10",
        "AIG_JOB_WINDOW_S": "10",
        "AIG_MIN_ROWS": "800",
        "AIG_CHECK_INTERVAL_S": "2",
        "AIG_WINDOW_HOURS": str(45 / 3600),
        "AIG_COOLDOWN_S": "5",
        "AIG_WATCH_ENABLED": "false",
    }
    with Stack(
        name="heal",
        services=("ingest", "feature", "trainer", "inference", "healer"),
        port_offset=200,
        purge_on_exit=True,
        env=env,
    ) as stack:
        traffic = stack.loadgen(rate=RATE)
        try:
            v1 = wait_until(
                lambda: _model(stack).get("version"), 150, "the first model", stack.log("trainer"), every_s=1.0
            )
            # The world changes: the hidden apply function flips. Then the drift detector's incident arrives.
            terminate(traffic, 30.0)
            traffic = stack.loadgen(rate=RATE, faults=[("concept_drift", 0.0)])
            time.sleep(5)  # detected soon after the change: the trainer's usual window still holds the old concept
            producer = EventProducer(stack.settings)
            drift = _incident("concept_drift", "job_apply", "Model 'job_apply' got worse: error rate 12% -> 25%")
            producer.produce("incidents", drift, drift["fingerprint"])
            producer.flush()
            outcome = wait_until(
                lambda: _outcome(stack, drift["incident_id"]),
                150,
                "the healer's outcome",
                stack.log("healer"),
                every_s=1.0,
            )
            assert outcome["status"] == "resolved" and outcome["action"] == "retrain", outcome
            assert outcome["time_to_recover_ms"] and outcome["time_to_recover_ms"] > 0
            commands = read_topic(stack.settings, "commands", timeout_s=3)
            retrains = [c for c in commands if c["incident_id"] == drift["incident_id"]]
            assert [c["command"] for c in retrains] == ["retrain"]
            # it learns only from rows after the change was seen, so the gate can accept it
            assert retrains[0]["params"]["since_ms"] == str(drift["first_seen"])
            events = read_topic(stack.settings, "model.events", timeout_s=3)
            live = [e["version"] for e in events if e["status"] == "live"]
            v2 = wait_until(
                lambda: (_model(stack).get("version") or 0) > v1,
                30,
                "inference serving the retrained model",
                stack.log("inference"),
                every_s=1.0,
            )
            assert v2 and max(live) > v1, events
            served = _model(stack)["version"]
            # the incident was verified by the trainer's answer to its own command: the version now served
            actions = read_topic(stack.settings, "actions", timeout_s=3)
            verdict = next(
                a for a in actions if a["incident_id"] == drift["incident_id"] and a["status"] == "succeeded"
            )
            assert verdict["detail"]["command_id"] == retrains[0]["event_id"], verdict
            assert verdict["detail"]["model_version"] == str(served), (verdict, served)
            answer = [e for e in events if e["command_id"] == retrains[0]["event_id"]]
            assert [(e["status"], e["version"]) for e in answer] == [("live", served)], events

            # The new model turns out broken: the healer rolls back and inference serves the previous version.
            bad = _incident("model_error", "job_apply", f"model job_apply v{served} fails to load")
            producer.produce("incidents", bad, bad["fingerprint"])
            producer.flush()
            outcome = wait_until(
                lambda: _outcome(stack, bad["incident_id"]), 120, "the rollback", stack.log("healer"), every_s=1.0
            )
            assert outcome["status"] == "resolved" and outcome["action"] == "rollback", outcome
            wait_until(
                lambda: _model(stack).get("version") == v1,
                30,
                "inference serving the previous version",
                stack.log("inference"),
                every_s=1.0,
            )
            rollbacks = [
                c for c in read_topic(stack.settings, "commands", timeout_s=3) if c["incident_id"] == bad["incident_id"]
            ]
            assert [c["command"] for c in rollbacks] == ["rollback"]
            answers = {
                (e["version"], e["status"])
                for e in read_topic(stack.settings, "model.events", timeout_s=3)
                if e["command_id"] == rollbacks[0]["event_id"]
            }
            assert answers == {(served, "rolled_back"), (v1, "live")}
        finally:
            terminate(traffic, 30.0)

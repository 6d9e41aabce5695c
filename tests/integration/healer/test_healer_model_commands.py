"""The healer against the real trainer process, on real Kafka, Redis and PostgreSQL: four incidents at once,
each answered by a retrain of its own. Each is verified only by the answer to its own command: the versions
that went live resolve the incidents that asked for them, and the candidate the gate rejected fails the
incident that asked for it (with the gate's reason) and no other."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from healer_itest_support import healer_redis_cleanup, healer_settings, incident, model_feed, running_healer

from kit.kafka import read_topic
from kit.procs import Proc
from services.trainer.synthetic import make_rows
from tests.integration.pipeline_model.trainer_itest_support import (
    has,
    insert_rows,
    model_events,
    schema_dsn,
    start,
)

pytestmark = pytest.mark.infra
__all__ = ["healer_redis_cleanup", "model_feed", "schema_dsn", "start"]  # fixtures: the import is their registration

# data_drift: a retrain on every row; concept_drift: a retrain on the newest 100 rows only. Those are 50
# rows of an inverted concept followed by 50 normal ones: the candidate learns from the first 50 and is
# held out on the last 50, where the live model is far better, so the gate rejects it.
POLICY = """
version: test-own-answers
rules:
  - match: {type: data_drift}
    ladder:
      - {action: retrain, target: trainer, verify: model_live, verify_timeout_s: 120, gated: true}
      - {action: alert}
  - match: {type: concept_drift}
    ladder:
      - {action: retrain, target: trainer, verify: model_live, verify_timeout_s: 120, gated: true, max_rows: 100}
      - {action: alert}
"""


@pytest.fixture
def trainer(start: Callable[..., Proc], schema_dsn: str, topic_prefix: str) -> Proc:
    """The trainer with a live v1, trained by itself on 1200 labelled rows (the newest 100 as above)."""
    normal = make_rows(1100, seed=41)
    inverted = make_rows(50, seed=43, flip=True, start=normal[-1].ts + timedelta(seconds=1), id_prefix="flip")
    tail = make_rows(50, seed=44, start=inverted[-1].ts + timedelta(seconds=1), id_prefix="tail")
    insert_rows(schema_dsn, normal + inverted + tail)
    proc = start("trainer", AIG_MIN_ROWS="100")
    assert has("live", 1)(model_events(topic_prefix, has("live", 1))), f"no first model in 90 s; read {proc.log}"
    return proc


def test_each_incident_is_verified_only_by_the_answer_to_its_own_retrain(
    trainer: Proc, schema_dsn: str, topic_prefix: str, tmp_path: Path, model_feed: Callable[[Any], None]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    # no cooldown: each incident sends a retrain of its own, all four at once
    settings = healer_settings(
        topic_prefix, policy_path=policy, cooldown_s=0, postgres_dsn=schema_dsn, max_concurrent_episodes=4
    )
    with running_healer(settings, synchronous=False) as healer:
        model_feed(healer)
        a = incident(type="data_drift", service="inference", target="salary_k", summary="salary_k drifted")
        b = incident(type="data_drift", service="inference", target="skill_match", summary="skill_match drifted")
        x = incident(type="concept_drift", service="inference", target="job_apply", summary="error rate rose")
        y = incident(type="data_drift", service="inference", target="distance_km", summary="distance_km drifted")
        incidents = {"a": a, "b": b, "x": x, "y": y}
        for inc in incidents.values():
            assert healer.on_incident(inc).kind == "act"
        assert healer.wait_idle(240), f"episodes still running after 240 s; read {trainer.log}"

        commands = {c["incident_id"]: c["event_id"] for c in read_topic(settings, "commands", until=4, timeout_s=10)}
        answers = {
            e["command_id"]: e for e in read_topic(settings, "model.events", until=5, timeout_s=20) if e["command_id"]
        }
        missing = [k for k, inc in incidents.items() if commands.get(inc["incident_id"]) not in answers]
        assert not missing, f"no trainer answer for the retrain of {missing}; read {trainer.log}"
        own = {k: answers[commands[inc["incident_id"]]] for k, inc in incidents.items()}
        assert {k: e["status"] for k, e in own.items()} == {"a": "live", "b": "live", "x": "rejected", "y": "live"}, (
            f"read {trainer.log}"
        )
        assert len({e["version"] for e in own.values()}) == 4  # one version per command

        actions = read_topic(
            settings,
            "actions",
            until=lambda acts: sum(a["status"] in ("resolved", "escalated") for a in acts) >= 4,
            timeout_s=20,
        )
        final = {a["incident_id"]: a for a in actions if a["status"] in ("resolved", "escalated")}
        verdicts = {a["incident_id"]: a for a in actions if a["status"] in ("succeeded", "failed")}
        for key in ("a", "b", "y"):  # each went live with its own version, whatever the others' answers said
            inc_id = incidents[key]["incident_id"]
            assert final[inc_id]["status"] == "resolved", (key, final[inc_id]["reason"])
            assert verdicts[inc_id]["detail"]["model_version"] == str(own[key]["version"]), (key, verdicts[inc_id])
            assert verdicts[inc_id]["detail"]["command_id"] == commands[inc_id]
        x_id = x["incident_id"]
        gate_reason = own["x"]["reason"]  # the trainer's: the command's reason, then the gate's
        assert "below the floor" in gate_reason or "worse than live" in gate_reason, gate_reason
        assert verdicts[x_id]["status"] == "failed" and verdicts[x_id]["detail"]["model_version"] == str(
            own["x"]["version"]
        )
        assert f"the gate rejected candidate v{own['x']['version']}" in verdicts[x_id]["reason"]
        assert gate_reason in verdicts[x_id]["reason"]
        assert final[x_id]["status"] == "escalated" and gate_reason in final[x_id]["reason"]
        assert healer.stats.get("data_drift/-", "retrain") == (3, 0)
        assert healer.stats.get("concept_drift/-", "retrain") == (0, 1)

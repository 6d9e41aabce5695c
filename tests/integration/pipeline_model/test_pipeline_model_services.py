"""Trainer and inference as real processes on real Kafka and PostgreSQL.

Each test gets its own topic prefix and its own PostgreSQL schema (migrations applied in it), so
the training rows and the registry it sees are only its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from kit.kafka import read_topic
from kit.ports import free_port
from kit.procs import Proc
from kit.records import feature_vector
from kit.wait import http_ok, poll, wait_until
from services.common.bus import EventProducer
from services.common.commands import sign_command
from services.common.connections import redis_client
from services.common.events import header
from services.common.model import artifacts, registry
from services.common.model.bundle import LabelledRow
from services.common.model.features import NUMERIC_FEATURES
from services.common.settings import CommonSettings
from services.trainer.synthetic import make_rows
from tests.integration.pipeline_model.trainer_itest_support import has, insert_rows, live, model_events, send_command

pytestmark = pytest.mark.infra


def test_trainer_trains_the_first_model_once_enough_rows_exist(
    start: Callable[..., Proc], schema_dsn: str, topic_prefix: str
) -> None:
    rows = make_rows(1000, seed=31)
    insert_rows(schema_dsn, rows[:300])
    trainer = start("trainer")
    time.sleep(4)
    assert trainer.popen.poll() is None, trainer.tail()
    assert model_events(topic_prefix, lambda evs: False, timeout_s=2) == []
    assert live(schema_dsn) is None

    insert_rows(schema_dsn, rows[300:])
    events = model_events(topic_prefix, has("live", 1))
    first = events[0]
    assert first["status"] == "live" and first["version"] == 1 and first["previous_version"] is None
    assert first["metrics"]["auc"] > 0.7 and first["metrics"]["train_rows"] + first["metrics"]["holdout_rows"] == 1000
    assert {p["feature"] for p in first["profile"]} >= {"skill_match", "region"}
    stored = live(schema_dsn)
    assert stored is not None and stored.version == 1 and stored.artifact_uri == first["artifact_uri"]
    # The model's columns are the feature service's declared ones.
    assert artifacts.load_bundle(first["artifact_uri"]).spec.numeric == NUMERIC_FEATURES
    assert trainer.stop() == 0, trainer.tail()


@dataclass
class Client:
    """Calls POST /predict in a loop and records every outcome."""

    url: str
    results: list[tuple[int, int | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        body = {"numeric": dict(make_rows(1, seed=5)[0].numeric), "categorical": {"region": "eu"}}
        with httpx.Client(timeout=5) as http:
            while not self.stop.is_set():
                try:
                    r = http.post(self.url, json=body)
                    version = r.json().get("model_version") if r.status_code == 200 else None
                    self.results.append((r.status_code, version))
                    if r.status_code != 200:
                        self.errors.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))

    def versions(self) -> set[int | None]:
        return {v for _, v in self.results}


def serving(base: str) -> int:
    """The model version inference at ``base`` serves."""
    return int(httpx.get(f"{base}/model").json()["version"])


def _first_model(
    start: Callable[..., Proc], schema_dsn: str, prefix: str, **inference_env: str
) -> tuple[Proc, Proc, str]:
    """Trainer with a live v1 (old concept), and inference serving it on a free port."""
    insert_rows(schema_dsn, make_rows(1200, seed=41, id_prefix="old"))
    trainer = start("trainer")
    model_events(prefix, has("live", 1))
    port = free_port()
    inference = start("inference", AIG_HTTP_PORT=str(port), **inference_env)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(f"{base}/ready", 2.0), 60, f"{base}/ready", inference.log, inference.popen, 0.3)
    return trainer, inference, base


def test_retrain_while_serving_swaps_models_without_a_failed_request(
    start: Callable[..., Proc], schema_dsn: str, topic_prefix: str
) -> None:
    trainer, inference, base = _first_model(start, schema_dsn, topic_prefix)
    assert httpx.get(f"{base}/model").json()["version"] == 1
    # The concept drifts: newer rows (two hours later) invert the skill effect; v1 is now wrong.
    newest = make_rows(1200, seed=42, flip=True, id_prefix="new")
    shift = make_rows(1200, seed=41)[-1].ts - newest[0].ts + timedelta(hours=2)
    insert_rows(
        schema_dsn, [LabelledRow(r.interaction_id, r.ts + shift, r.numeric, r.categorical, r.label) for r in newest]
    )
    client = Client(f"{base}/predict")
    thread = threading.Thread(target=client.run)
    thread.start()
    try:
        time.sleep(1.0)
        send_command(topic_prefix, "retrain", "trainer", {"window_hours": "1"})
        events = model_events(topic_prefix, has("live", 2))
        v2 = next(e for e in events if e["version"] == 2)
        assert v2["previous_version"] == 1 and v2["metrics"]["auc"] > v2["metrics"]["live_auc"]
        poll(lambda: 2 in client.versions(), 30, every_s=0.1)
        time.sleep(1.0)
    finally:
        client.stop.set()
        thread.join(10)
    print(
        f"retrain under load: {len(client.results)} requests, versions {client.versions()}, {len(client.errors)} failed"
    )
    assert client.errors == [], client.errors[:5]
    assert client.versions() == {1, 2}
    assert len(client.results) > 100
    # Once v2 answered, v1 never answers again.
    versions = [v for _, v in client.results]
    assert 1 not in versions[versions.index(2) :]
    assert httpx.get(f"{base}/model").json()["version"] == 2
    assert inference.stop() == 0, inference.tail()
    assert trainer.stop() == 0, trainer.tail()


def test_rollback_restores_the_previous_version(
    start: Callable[..., Proc], schema_dsn: str, topic_prefix: str, redis_url: str
) -> None:
    trainer, inference, base = _first_model(
        start, schema_dsn, topic_prefix, AIG_REDIS_KEY_PREFIX=f"{topic_prefix}features:", AIG_REDIS_URL=redis_url
    )
    _check_online_store(base, redis_url, f"{topic_prefix}features:")
    send_command(topic_prefix, "retrain", "trainer", {"force": "true"})
    model_events(topic_prefix, has("live", 2))
    poll(lambda: serving(base) == 2, 30, every_s=0.2)

    rollback_id = send_command(topic_prefix, "rollback", "trainer")
    events = model_events(topic_prefix, lambda evs: has("rolled_back", 2)(evs) and len(evs) >= 4)
    restored = events[-1]
    assert (restored["status"], restored["version"], restored["previous_version"]) == ("live", 1, 2)
    assert restored["reason"].startswith("rollback") and restored["profile"]
    current = live(schema_dsn)
    assert current is not None and current.version == 1
    with psycopg.connect(schema_dsn, autocommit=True) as conn:
        assert registry.get_version(conn, "job_apply", 2).status == "rolled_back"  # type: ignore[union-attr]
    poll(lambda: serving(base) == 1, 30, every_s=0.2)
    assert serving(base) == 1

    # A replayed rollback re-sends the same events and changes nothing.
    send_command(topic_prefix, "rollback", "trainer", event_id=rollback_id)
    replayed = model_events(topic_prefix, lambda evs: len(evs) >= 6, timeout_s=60)
    assert [e["event_id"] for e in replayed[4:6]] == [e["event_id"] for e in events[2:4]]
    current = live(schema_dsn)
    assert current is not None and current.version == 1

    # A reload command makes inference load the live version again.
    before = httpx.get(f"{base}/model").json()["loaded_at"]
    send_command(topic_prefix, "reload", "inference")
    poll(lambda: httpx.get(f"{base}/model").json()["loaded_at"] != before, 30, every_s=0.2)
    after = httpx.get(f"{base}/model").json()
    assert after["loaded_at"] != before and after["version"] == 1

    # The Kafka path scores feature vectors with the restored model.
    producer = EventProducer(CommonSettings(topic_prefix=topic_prefix, log_to_kafka=False))
    for i, row in enumerate(make_rows(20, seed=43)):
        producer.produce(
            "features",
            {
                **header("test"),
                "interaction_id": f"fv{i}",
                "member_id": f"m{i}",
                "job_id": "j1",
                "interaction_ts": 0,
                "numeric": dict(row.numeric),
                "categorical": dict(row.categorical),
            },
            key=f"m{i}",
        )
    producer.flush(30)
    predictions = read_topic(CommonSettings(topic_prefix=topic_prefix), "predictions", until=20, timeout_s=60)
    assert len(predictions) == 20 and {p["model_version"] for p in predictions} == {1}
    assert all(0.0 < p["score"] < 1.0 for p in predictions)
    assert inference.stop() == 0, inference.tail()
    assert trainer.stop() == 0, trainer.tail()


def _check_online_store(base: str, redis_url: str, key_prefix: str) -> None:
    """Rows given only by ids are completed from the hashes the feature service writes to Redis."""

    from services.feature.handlers import online_hashes

    row = make_rows(1, seed=44)[0]
    fv = feature_vector(row, "m-on", "j-on")
    client = redis_client(CommonSettings(), redis_url)
    written = online_hashes(fv, key_prefix)
    try:
        for key, fields in written.items():
            client.hset(key, mapping=fields)
        by_ids = httpx.post(f"{base}/predict", json={"member_id": "m-on", "job_id": "j-on"})
        full = httpx.post(f"{base}/predict", json={"numeric": fv["numeric"], "categorical": fv["categorical"]})
        assert by_ids.status_code == 200, by_ids.text
        assert by_ids.json()["score"] == pytest.approx(full.json()["score"])
        missing = httpx.post(f"{base}/predict", json={"member_id": "nobody", "job_id": "j-on"})
        assert missing.status_code == 200  # the job hash alone is enough to score
        none = httpx.post(f"{base}/predict", json={"member_id": "nobody", "job_id": "nothing"})
        assert none.status_code == 404 and "no online features" in none.json()["message"]
    finally:
        client.delete(*written)
        client.close()


def test_registry_keeps_rejected_candidates_out_and_replayed_commands_act_once(schema_dsn: str, tmp_path: Path) -> None:
    """In-process against real PostgreSQL: the gate's rejection and command idempotency."""
    from services.trainer.settings import TrainerSettings
    from services.trainer.training import Trainer

    insert_rows(schema_dsn, make_rows(1500, seed=51))
    settings = TrainerSettings(
        postgres_dsn=schema_dsn, artifact_dir=tmp_path / "models", min_rows=600, num_boost_round=30, log_to_kafka=False
    )
    trainer = Trainer(settings, lambda: psycopg.connect(schema_dsn, autocommit=True))
    assert [e["status"] for e in trainer.bootstrap_if_needed()] == ["live"]
    assert trainer.bootstrap_if_needed() == []  # a live model exists: nothing more to do

    strict = Trainer(settings.model_copy(update={"min_auc": 0.99}), trainer.connect)
    command = sign_command(
        {
            **header("operator"),
            "command": "retrain",
            "target": "trainer",
            "reason": "drift",
            "incident_id": "inc-9",
            "params": {},
        },
        settings,
    )
    rejected = strict.handle_command(command)
    assert [(e["status"], e["version"], e["previous_version"]) for e in rejected] == [("rejected", 2, 1)]
    assert "below the floor" in rejected[0]["reason"] and rejected[0]["reason"].startswith("drift")
    current = live(schema_dsn)
    assert current is not None and current.version == 1
    assert strict.handle_command(command) == [{**rejected[0], "ts": rejected[0]["ts"]}]  # replay: same events
    with psycopg.connect(schema_dsn, autocommit=True) as conn:
        versions = conn.execute("SELECT version, status FROM model_versions ORDER BY version").fetchall()
    assert versions == [(1, "live"), (2, "rejected")]
    assert artifacts.load_bundle(rejected[0]["artifact_uri"]).meta["version"] == 2  # kept for inspection

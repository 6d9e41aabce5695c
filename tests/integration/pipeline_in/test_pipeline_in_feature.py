"""The feature worker against real Kafka, Redis and PostgreSQL, killed with SIGKILL mid-stream and restarted.

The restart uses an empty data dir on purpose: the windowed counts can only come back from the
changelog topics, not from the local rocksdb files.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from feature_itest_support import send_interactions, start_feature_worker, vector_for

from kit.kafka import read_topic
from kit.procs import terminate
from kit.records import interaction
from services.common.bus import EventProducer
from services.common.connections import redis_client
from services.common.events import now_ms
from services.common.settings import CommonSettings


@pytest.mark.timeout(300)
def test_windowed_counts_survive_sigkill(
    settings_env: dict[str, str], topic_prefix: str, tmp_path: Path, pg_dsn: str, redis_url: str
) -> None:
    settings = CommonSettings(topic_prefix=topic_prefix, log_to_kafka=False)
    env = {**settings_env, "AIG_REDIS_KEY_PREFIX": f"{topic_prefix}features:"}
    log = tmp_path / "feature.log"
    worker = start_feature_worker(env, tmp_path / "data-1", log)
    try:
        base = now_ms()
        first = [{**interaction(i), "member_id": "m-restart", "job_id": "j-hot", "ts": base + i} for i in range(20)]
        send_interactions(settings, first)
        vec = vector_for(settings, first[-1]["event_id"], timeout_s=90)
        assert vec["numeric"]["member_views"] == 20.0
        assert vec["numeric"]["job_views"] == 20.0
        time.sleep(2.0)  # a couple of commit intervals: a kill now loses no table update
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)

        worker = start_feature_worker(env, tmp_path / "data-2", log)
        later = {**interaction(99), "member_id": "m-restart", "job_id": "j-hot", "ts": base + 1000}
        send_interactions(settings, [later])
        vec = vector_for(settings, later["event_id"], timeout_s=120)
        # at-least-once: a replay may count an event twice, but the state never restarts at zero
        assert vec["numeric"]["member_views"] >= 21.0, vec["numeric"]
        assert vec["numeric"]["job_views"] >= 21.0, vec["numeric"]

        # The online store is written in small batches after the vector is emitted: poll, bounded.
        r = redis_client(CommonSettings(), redis_url)
        member: dict[bytes, bytes] = {}
        store_deadline = time.monotonic() + 15
        while time.monotonic() < store_deadline:
            member = r.hgetall(f"{topic_prefix}features:member:m-restart")  # type: ignore[assignment]
            if float(member.get(b"member_views", b"0")) >= 21.0:
                break
            time.sleep(0.2)
        job: dict[bytes, bytes] = r.hgetall(f"{topic_prefix}features:job:j-hot")  # type: ignore[assignment]
        assert float(member[b"member_views"]) >= 21.0
        assert job[b"industry"] == b"software"

        ids = [e["event_id"] for e in [*first, later]]
        deadline = time.monotonic() + 30
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            while True:
                n = conn.execute("SELECT count(*) FROM feature_rows WHERE interaction_id = ANY(%s)", (ids,)).fetchone()
                if (n and n[0] == len(ids)) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        assert n is not None and n[0] == len(ids)
    finally:
        terminate(worker, 30.0)
        if os.environ.get("AIG_TEST_SHOW_LOGS"):
            print(log.read_text())


@pytest.mark.timeout(180)
def test_undecodable_input_is_dead_lettered_and_labels_are_stored(
    settings_env: dict[str, str], topic_prefix: str, tmp_path: Path, pg_dsn: str
) -> None:
    settings = CommonSettings(topic_prefix=topic_prefix, log_to_kafka=False)
    worker = start_feature_worker(settings_env, tmp_path / "data", tmp_path / "feature.log")
    try:
        producer = EventProducer(settings)
        producer.produce_raw("interactions.valid", b"\x00garbage, not avro at all", "m1")
        label: dict[str, Any] = {
            "event_id": "l-1",
            "ts": now_ms(),
            "source": "test",
            "interaction_id": f"{topic_prefix}i-1",
            "member_id": "m1",
            "applied": True,
        }
        producer.produce("labels", label, key=label["interaction_id"])
        producer.flush()
        dead = read_topic(settings, "deadletter", until=1, timeout_s=90)
        assert dead[0]["topic"] == "interactions.valid" and dead[0]["error_type"] == "decode"
        assert "not Avro" in dead[0]["error"] and dead[0]["raw"] == b"\x00garbage, not avro at all"
        deadline = time.monotonic() + 30
        row = None
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            while row is None and time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT applied FROM labels WHERE interaction_id = %s", (label["interaction_id"],)
                ).fetchone()
                time.sleep(0.3)
        assert row == (True,)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0  # clean stop on SIGTERM

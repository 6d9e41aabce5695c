"""The trainer and inference as real processes on a PostgreSQL schema of the test's own, and helpers to
feed them rows and commands and to read what they publish (shared by the pipeline_model and healer tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from kit.kafka import read_topic
from kit.postgres import isolated_schema
from kit.procs import Proc, start_module
from services.common.bus import EventProducer
from services.common.commands import Signer, sign_command
from services.common.events import header
from services.common.model import registry
from services.common.model.bundle import LabelledRow
from services.common.settings import CommonSettings

FEATURE_TABLES = """
CREATE TABLE IF NOT EXISTS feature_rows (
    interaction_id text PRIMARY KEY, member_id text NOT NULL, job_id text NOT NULL, ts timestamptz NOT NULL,
    numeric jsonb NOT NULL, categorical jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS labels (interaction_id text PRIMARY KEY, applied boolean NOT NULL, ts timestamptz NOT NULL);
"""


@pytest.fixture
def schema_dsn(pg_dsn: str) -> Iterator[str]:
    """A PostgreSQL schema of this test's own, migrated; dropped afterwards."""
    with isolated_schema(pg_dsn, "pm") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(FEATURE_TABLES)  # no-op once the feature service's migration defines them
        yield dsn


def insert_rows(dsn: str, rows: list[LabelledRow]) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO feature_rows (interaction_id, member_id, job_id, ts, numeric, categorical)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(r.interaction_id, "m1", "j1", r.ts, Jsonb(dict(r.numeric)), Jsonb(dict(r.categorical))) for r in rows],
        )
        cur.executemany(
            "INSERT INTO labels (interaction_id, applied, ts) VALUES (%s, %s, %s)",
            [(r.interaction_id, r.label, r.ts + timedelta(minutes=5)) for r in rows],
        )


@pytest.fixture
def start(settings_env: dict[str, str], schema_dsn: str, tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Start ``python -m services.<name>`` on this test's topics and schema; its output goes to <tmp>/<name>.log."""
    procs: list[Proc] = []

    def launch(service: str, **env: str) -> Proc:
        full = {
            **settings_env,
            "AIG_POSTGRES_DSN": schema_dsn,
            "AIG_ARTIFACT_DIR": str(tmp_path / "models"),
            "AIG_LOG_TO_KAFKA": "false",
            "AIG_MIN_ROWS": "600",
            "AIG_CHECK_INTERVAL_S": "1",
            "AIG_NUM_BOOST_ROUND": "40",
            "AIG_HTTP_PORT": "0",
            **env,
        }
        log = tmp_path / f"{service}.log"
        proc = Proc(service, start_module(f"services.{service}", full, log, truncate=True), log)
        procs.append(proc)
        return proc

    yield launch
    for proc in procs:
        proc.stop()


def model_events(
    prefix: str, until: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 90
) -> list[dict[str, Any]]:
    return read_topic(CommonSettings(topic_prefix=prefix), "model.events", until=until, timeout_s=timeout_s)


def has(status: str, version: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda evs: any(e["status"] == status and e["version"] == version for e in evs)


def send_command(
    prefix: str,
    command: str,
    target: str,
    params: dict[str, str] | None = None,
    event_id: str | None = None,
    signer: Signer | None = "operator",
) -> str:
    """Send a command as an operator would (signed with the operator key); ``signer=None``: unsigned."""
    record: dict[str, Any] = {
        **header("operator", event_id=event_id),
        "command": command,
        "target": target,
        "reason": f"test {command}",
        "incident_id": None,
        "params": params or {},
    }
    settings = CommonSettings(topic_prefix=prefix, log_to_kafka=False)
    if signer is not None:
        record = sign_command(record, settings, signer)
    producer = EventProducer(settings)
    producer.produce("commands", record, key=target)
    producer.flush(30)
    return str(record["event_id"])


def live(dsn: str) -> registry.ModelVersion | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return registry.live_version(conn, "job_apply")

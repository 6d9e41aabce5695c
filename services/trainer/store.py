"""Writes to the model registry in PostgreSQL (020_trainer.sql), and the labelled training rows.

Every change of the live pointer happens in one transaction holding a per-model advisory lock,
so two trainer replicas never publish or roll back the same model at once, and the registry is
committed before any ModelPublished event leaves: a consumer that reacts to an event finds the
registry already up to date.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from services.common.model.bundle import LabelledRow
from services.common.model.registry import ModelVersion


def _clean(value: Any) -> Any:
    """JSON for jsonb: PostgreSQL refuses NaN and infinity, so they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def jsonb(value: Any) -> Jsonb:
    return Jsonb(_clean(value), dumps=lambda v: json.dumps(v, default=str))


@contextmanager
def locked(conn: psycopg.Connection, model_name: str) -> Iterator[psycopg.Connection]:
    """A transaction holding the model's advisory lock until commit."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"aig.model:{model_name}",))
        yield conn


def next_version(conn: psycopg.Connection, model_name: str) -> int:
    row = conn.execute(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model_name = %s", (model_name,)
    ).fetchone()
    return int(row[0]) if row else 1


def insert_version(conn: psycopg.Connection, mv: ModelVersion) -> None:
    conn.execute(
        "INSERT INTO model_versions (model_name, version, status, artifact_uri, metrics, params, data_window,"
        " parent_version, reason, profile) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            mv.model_name,
            mv.version,
            mv.status,
            mv.artifact_uri,
            jsonb(mv.metrics),
            jsonb(mv.params),
            jsonb(mv.data_window),
            mv.parent_version,
            mv.reason,
            jsonb(mv.profile),
        ),
    )


def set_status(conn: psycopg.Connection, model_name: str, version: int, status: str) -> None:
    conn.execute(
        "UPDATE model_versions SET status = %s WHERE model_name = %s AND version = %s", (status, model_name, version)
    )


def set_live(conn: psycopg.Connection, model_name: str, version: int, reason: str) -> None:
    """Point the model at ``version``; the version it replaces becomes ``retired`` unless already marked."""
    conn.execute(
        "UPDATE model_versions SET status = 'retired' WHERE model_name = %s AND status = 'live' AND version <> %s",
        (model_name, version),
    )
    set_status(conn, model_name, version, "live")
    conn.execute(
        "INSERT INTO model_live (model_name, version, reason) VALUES (%s, %s, %s) ON CONFLICT (model_name)"
        " DO UPDATE SET version = EXCLUDED.version, reason = EXCLUDED.reason, updated_at = now()",
        (model_name, version, reason),
    )
    conn.execute(
        "INSERT INTO model_live_history (model_name, version, reason) VALUES (%s, %s, %s)",
        (model_name, version, reason),
    )


def command_outputs(conn: psycopg.Connection, event_id: str) -> list[dict[str, Any]] | None:
    """The events a command already produced, or ``None`` if it was never obeyed."""
    row = conn.execute("SELECT outputs FROM trainer_commands WHERE event_id = %s", (event_id,)).fetchone()
    return list(row[0]) if row else None


def record_command(conn: psycopg.Connection, event_id: str, command: str, outputs: list[dict[str, Any]]) -> None:
    conn.execute(
        "INSERT INTO trainer_commands (event_id, command, outputs) VALUES (%s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING",
        (event_id, command, jsonb(outputs)),
    )


# ------------------------------------------------------------------ training data (feature service tables)
def count_labelled(conn: psycopg.Connection, cap: int) -> int:
    """Labelled rows available, counted up to ``cap`` (enough to decide, cheap on a big table)."""
    row = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM feature_rows f JOIN labels l USING (interaction_id) LIMIT %s) s",
        (cap,),
    ).fetchone()
    return int(row[0]) if row else 0


def fetch_labelled(conn: psycopg.Connection, max_rows: int) -> list[LabelledRow]:
    """The newest ``max_rows`` feature rows that have a label, oldest first."""
    rows = conn.execute(
        "SELECT f.interaction_id, f.ts, f.numeric, f.categorical, l.applied"
        " FROM feature_rows f JOIN labels l USING (interaction_id)"
        " ORDER BY f.ts DESC LIMIT %s",
        (max_rows,),
    ).fetchall()
    out = [
        LabelledRow(
            interaction_id=str(iid),
            ts=ts,
            numeric=num or {},
            categorical=cat or {},
            label=bool(applied),
        )
        for iid, ts, num, cat, applied in rows
    ]
    out.reverse()
    return out

"""Reads of the model registry in PostgreSQL (020_trainer.sql): which version is live, and its row.

The trainer owns the registry and is its only writer (``services.trainer.store``); inference
follows the live pointer through these reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class ModelVersion:
    model_name: str
    version: int
    status: str
    artifact_uri: str
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    data_window: dict[str, Any] = field(default_factory=dict)
    parent_version: int | None = None
    reason: str = ""
    profile: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None

    def float_metrics(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.metrics.items() if isinstance(v, int | float)}


_COLUMNS = (
    "model_name, version, status, artifact_uri, metrics, params, data_window, parent_version, reason,"
    " profile, created_at"
)


def _version(row: Mapping[str, Any] | None) -> ModelVersion | None:
    return ModelVersion(**row) if row else None


def live_version(conn: psycopg.Connection, model_name: str) -> ModelVersion | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {', '.join('v.' + c.strip() for c in _COLUMNS.split(','))} "  # noqa: S608 - constant columns
            "FROM model_live l JOIN model_versions v USING (model_name, version) WHERE l.model_name = %s",
            (model_name,),
        )
        return _version(cur.fetchone())


def get_version(conn: psycopg.Connection, model_name: str, version: int) -> ModelVersion | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM model_versions WHERE model_name = %s AND version = %s",  # noqa: S608 - constant columns
            (model_name, version),
        )
        return _version(cur.fetchone())


def live_history(conn: psycopg.Connection, model_name: str, limit: int = 100) -> list[tuple[int, str]]:
    """(version, its status now) of each live-pointer change, newest first."""
    rows = conn.execute(
        "SELECT h.version, v.status FROM model_live_history h JOIN model_versions v USING (model_name, version)"
        " WHERE h.model_name = %s ORDER BY h.id DESC LIMIT %s",
        (model_name, limit),
    ).fetchall()
    return [(int(v), str(s)) for v, s in rows]

"""A PostgreSQL schema of a run's own: every migration applied in it, dropped when the run ends."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import sql

from services.common.connections import postgres_conninfo
from services.common.db import migrate
from services.common.settings import CommonSettings


def schema_dsn(base_dsn: str, schema: str) -> str:
    """``base_dsn`` with its search path set to ``schema``: every unqualified table is the run's own."""
    sep = "&" if "?" in base_dsn else "?"
    return f"{base_dsn}{sep}options=-csearch_path%3D{schema}"


def _conninfo(dsn: str) -> str:
    """``dsn`` with the PostgreSQL password of the environment (AIG_POSTGRES_PASSWORD) applied."""
    return postgres_conninfo(CommonSettings(), dsn)


def create_schema(base_dsn: str, schema: str) -> str:
    """Create ``schema`` (if missing), apply every migration in it; returns the DSN that uses it."""
    with psycopg.connect(_conninfo(base_dsn), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    dsn = schema_dsn(base_dsn, schema)
    migrate(_conninfo(dsn))
    return dsn


def drop_schema(base_dsn: str, schema: str) -> None:
    """Drop ``schema`` and all in it; best effort: a teardown must not hide what the run found."""
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(_conninfo(base_dsn), autocommit=True, connect_timeout=5) as conn,
    ):
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextlib.contextmanager
def isolated_schema(base_dsn: str, prefix: str = "t") -> Iterator[str]:
    """A new migrated schema named ``<prefix>_<random>`` for one ``with`` block; yields its DSN."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        yield create_schema(base_dsn, schema)
    finally:
        drop_schema(base_dsn, schema)

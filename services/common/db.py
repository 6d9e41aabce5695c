"""PostgreSQL access (psycopg 3) and the migration runner for infra/postgres/migrations/*.sql."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool

from services.common.connections import postgres_conninfo
from services.common.settings import REPO_ROOT, CommonSettings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = REPO_ROOT / "infra" / "postgres" / "migrations"
_MIGRATION_LOCK = 7_320_001  # pg_advisory_lock key: one migrator at a time


def connect(settings: CommonSettings, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(postgres_conninfo(settings), autocommit=autocommit, connect_timeout=5)


def pool(settings: CommonSettings, min_size: int = 1, max_size: int = 4) -> ConnectionPool:
    """A connection pool that reconnects after a PostgreSQL restart."""
    return ConnectionPool(
        postgres_conninfo(settings),
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "connect_timeout": 5},
        check=ConnectionPool.check_connection,
        open=True,
    )


def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply each *.sql file of ``directory`` once, in name order; returns the names applied now."""
    applied_now: list[str] = []
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
            for path in sorted(directory.glob("*.sql")):
                if path.name in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))
                applied_now.append(path.name)
                log.info("applied migration %s", path.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied_now

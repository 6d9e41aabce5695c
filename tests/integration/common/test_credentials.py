"""Credentials on the real local servers: Redis and PostgreSQL refuse a client without the password,
settings keep the passwords out of their text, and a hostile drift checkpoint in Redis is refused."""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from services.common.connections import postgres_conninfo, redis_client
from services.common.settings import CommonSettings
from services.drift.service import DriftService
from services.drift.settings import DriftSettings

pytestmark = pytest.mark.infra


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_redis_refuses_a_client_without_the_password(redis_url: str) -> None:
    with pytest.raises(redis.AuthenticationError, match=r"(?i)auth"):
        redis.Redis.from_url(redis_url, socket_timeout=2).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(redis_url, password="not-the-password", socket_timeout=2).ping()
    assert redis_client(CommonSettings(), redis_url, socket_timeout=2).ping()


def test_postgres_refuses_a_client_without_the_password(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = CommonSettings()
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    with pytest.raises(psycopg.OperationalError, match=r"(?i)password"):
        psycopg.connect(settings.postgres_dsn, connect_timeout=5).close()
    with psycopg.connect(postgres_conninfo(settings), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_settings_never_show_a_password() -> None:
    settings = CommonSettings()
    secrets = [settings.secret("redis_password"), settings.secret("postgres_password")]
    assert all(secrets), "make (or the test session) puts both passwords in the environment"
    shown = f"{settings!r} {settings} {settings.model_dump()} {settings.model_dump_json()}"
    for secret in secrets:
        assert secret is not None and secret not in shown


def test_a_hostile_checkpoint_in_redis_is_refused_and_the_service_starts_fresh(
    make_settings: Callable[..., Any], group_id: str, tmp_path: Path
) -> None:
    settings: DriftSettings = make_settings(DriftSettings, group_id=group_id, http_port=0)
    service = DriftService(settings)
    marker = tmp_path / "pwned"
    service.checkpointer.r.set(service.checkpointer.key, pickle.dumps({"version": 4, "state": _RunsCode(marker)}))
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert service.processor.wait_ready(60), service.processor.readiness()
    finally:
        stop.set()
        thread.join(30)
    assert not marker.exists(), "the drift service ran code from its checkpoint"
    assert service.monitor.stats["bad_checkpoint"] == 1
    assert service.monitor.state.features == {}
    assert not thread.is_alive()
    service.checkpointer.r.delete(service.checkpointer.key, f"{service.checkpointer.key}:prev")

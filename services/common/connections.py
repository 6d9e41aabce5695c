"""Clients of Redis and PostgreSQL built from settings, so the credentials are applied in one place.

Passwords come from the environment as ``SecretStr`` settings (``AIG_REDIS_PASSWORD``,
``AIG_POSTGRES_PASSWORD``) and are handed to the client library only here, never put into a URL
that could end up in a log line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import redis
import redis.asyncio as aioredis
from psycopg.conninfo import make_conninfo

from services.common.settings import CommonSettings


def redis_client(settings: CommonSettings, url: str | None = None, **options: Any) -> redis.Redis:
    """A Redis client of ``url`` (default the settings' one) that authenticates with redis_password."""
    return redis.Redis.from_url(url or settings.redis_url, password=settings.secret("redis_password"), **options)


def async_redis_client(settings: CommonSettings, url: str | None = None, **options: Any) -> aioredis.Redis:
    """The asyncio variant of :func:`redis_client`."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url or settings.redis_url, password=settings.secret("redis_password"), **options
    )
    return client


def postgres_conninfo(settings: CommonSettings, dsn: str | None = None) -> str:
    """``dsn`` (default the settings' one) with postgres_password applied, for psycopg to connect with.

    The result holds the password: pass it to psycopg, never log it (log ``settings.postgres_dsn``).
    """
    password = settings.secret("postgres_password")
    base = dsn or settings.postgres_dsn
    return make_conninfo(base, password=password) if password else base


# The names of the readiness checks of shared dependencies: the health watch reads a /ready that fails on
# these alone as an outage of the dependency, not of the service (restarting the service would not help).
DEPENDENCY_CHECKS = frozenset({"postgres", "redis"})


def postgres_ready(settings: CommonSettings, dsn: str | None = None) -> Callable[[], bool]:
    """A /ready check: PostgreSQL answers a query within about two seconds (libpq's shortest timeout)."""
    conninfo = postgres_conninfo(settings, dsn)

    def check() -> bool:
        with psycopg.connect(conninfo, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    return check


def redis_ready(settings: CommonSettings, url: str | None = None) -> Callable[[], bool]:
    """A /ready check: Redis answers a PING within a second (a client of its own, with short timeouts)."""
    client = redis_client(settings, url, socket_timeout=1, socket_connect_timeout=1)
    return lambda: bool(client.ping())

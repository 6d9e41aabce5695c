"""The local infrastructure (``infra/local/infra.sh``) stopped and started from a test, for outages of a real
dependency. Every outage ends: the component is started again on the way out, whatever happened meanwhile.

The infrastructure is shared by every test of the machine: a caller stopping a piece of it must hold the
machine's test lock (the Makefile's callers run ``flock /tmp/aig-infra.lock make test``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Literal
from urllib.parse import urlsplit

from kit.wait import wait_until
from services.common.settings import REPO_ROOT, CommonSettings

INFRA_SH = REPO_ROOT / "infra" / "local" / "infra.sh"
# infra.sh's state directory (not a temporary file): where each component writes its log
STATE_DIR = os.environ.get("AIG_STATE_DIR", "/var/tmp/autoinfraguard")  # noqa: S108

Component = Literal["kafka", "postgres", "redis"]
COMPONENTS: tuple[Component, ...] = ("kafka", "postgres", "redis")
LOGS: dict[Component, str] = {
    "kafka": f"{STATE_DIR}/kafka/kafka.log",
    "postgres": f"{STATE_DIR}/postgres/postgres.log",
    "redis": f"{STATE_DIR}/redis/redis.log",
}


def infra(action: Literal["up", "down"], *components: Component, timeout_s: float = 300.0) -> None:
    """``infra.sh up|down components``; raises with infra.sh's own message when it fails."""
    result = subprocess.run(
        [str(INFRA_SH), action, *components], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"infra.sh {action} {' '.join(components)} exited with {result.returncode}:\n{result.stderr}"
        )


def address(component: Component, settings: CommonSettings | None = None) -> tuple[str, int]:
    """Host and port the services reach ``component`` at (from the common settings)."""
    settings = settings or CommonSettings()
    if component == "kafka":
        host, _, port = settings.kafka_bootstrap.split(",")[0].rpartition(":")
        return host, int(port)
    url = urlsplit(settings.postgres_dsn if component == "postgres" else settings.redis_url)
    return url.hostname or "127.0.0.1", url.port or (5432 if component == "postgres" else 6379)


def listening(component: Component, settings: CommonSettings | None = None) -> bool:
    """Something accepts TCP connections where ``component`` should be."""
    try:
        with socket.create_connection(address(component, settings), timeout=1.0):
            return True
    except OSError:
        return False


def stop(component: Component, settings: CommonSettings | None = None, timeout_s: float = 60.0) -> None:
    """Stop ``component`` and make sure it really is gone (infra.sh's stop of PostgreSQL forgives a failure)."""
    infra("down", component)
    host, port = address(component, settings)
    wait_until(
        lambda: not listening(component, settings),
        timeout_s,
        f"{component} stopped ({host}:{port} closed)",
        LOGS[component],
    )


def start(component: Component, settings: CommonSettings | None = None, timeout_s: float = 60.0) -> None:
    """Start ``component`` (idempotent) and wait until it accepts connections."""
    infra("up", component)
    host, port = address(component, settings)
    wait_until(
        lambda: listening(component, settings), timeout_s, f"{component} listening on {host}:{port}", LOGS[component]
    )


@contextlib.contextmanager
def stopped(component: Component, settings: CommonSettings | None = None) -> Iterator[None]:
    """``component`` down for the block, and started again after it whatever happens inside."""
    try:
        stop(component, settings)
        yield
    finally:
        start(component, settings)


@contextlib.contextmanager
def restored(components: tuple[Component, ...] = COMPONENTS) -> Iterator[None]:
    """Every one of ``components`` started on the way out of the block, whatever happened inside it (a failed
    outage step included): a test never leaves the shared infrastructure down."""
    try:
        yield
    finally:
        infra("up", *components)

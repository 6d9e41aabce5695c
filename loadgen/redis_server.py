"""A Redis server of a run's own, on a free 127.0.0.1 port, that the run may stop and start again.

The shared local Redis must never go down; a dependency outage is played on a private server
instead. It keeps its port across a stop and a start (clients reconnect to the same URL), and with
a data directory it saves on a graceful stop and loads on the next start, so the outage is one of
availability, not of lost data. It asks for the same password as the shared one (AIG_REDIS_PASSWORD),
handed over on stdin, so the services connect to it as they would in production.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr

from loadgen.procs import free_port, terminate
from services.common.connections import redis_client
from services.common.settings import CommonSettings


class RedisServerError(RuntimeError):
    """redis-server did not start or answer; the message says where to look."""


@dataclass
class RedisServer:
    """One redis-server process; ``start`` and ``stop`` may alternate any number of times."""

    port: int = field(default_factory=free_port)
    data_dir: Path | None = None  # None: no persistence (the data goes with the process)
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    password: str | None = field(default_factory=lambda: os.environ.get("AIG_REDIS_PASSWORD") or None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **options: Any) -> redis.Redis:
        """A client of this server that knows its password."""
        secret = SecretStr(self.password) if self.password else None
        return redis_client(CommonSettings(redis_password=secret), self.url, **options)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        cmd = [
            "redis-server",
            "-",  # the rest of the configuration (the password) comes on stdin
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        if self.data_dir is None:
            return [*cmd, "--save", ""]
        # A save point makes a graceful shutdown (SIGTERM) write the snapshot the next start loads.
        return [*cmd, "--save", "3600 1", "--dir", str(self.data_dir), "--dbfilename", "dump.rdb"]

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        if self.running:
            return
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(  # noqa: S603 - our own redis-server command line, no user input
            self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.PIPE
        )
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"requirepass {self.password}\n".encode() if self.password else b"")
        self.proc.stdin.close()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.client(socket_timeout=1).ping():
                    return
            except redis.RedisError as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    where = f"see {self.log_path}" if self.log_path else "is redis-server installed?"
                    self.stop()
                    raise RedisServerError(f"redis-server on port {self.port} did not answer: {exc}; {where}") from exc
                time.sleep(0.1)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful stop (SIGTERM: saves when persistent), killed if it does not exit in time."""
        proc, self.proc = self.proc, None
        if proc is not None:
            terminate(proc, timeout_s)


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A throwaway redis-server (no persistence) for one ``with`` block: yields its URL and process."""
    server = RedisServer()
    server.start()
    assert server.proc is not None
    try:
        yield server.url, server.proc
    finally:
        proc = server.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

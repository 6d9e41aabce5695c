"""Helpers for tests that run a service as a real process: bounded waits, its HTTP port, its /ready answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from services.common.settings import REPO_ROOT

T = TypeVar("T")


def start_service(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m module`` with stdout and stderr appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


IN_PROCESS_LOG = "the captured log of this test"


def wait_until(
    probe: Callable[[], T | None],
    timeout_s: float,
    what: str,
    log: Path | str,
    proc: subprocess.Popen[bytes] | None = None,
    every_s: float = 0.05,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout_s`` (or if ``proc`` exits)
    with ``what`` and the log to read (a file, or IN_PROCESS_LOG)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}; read {log}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s; read {log}")
        time.sleep(every_s)


def free_port() -> int:
    """A free 127.0.0.1 port for a service's AIG_HTTP_PORT (0 there turns its HTTP server off)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ReadyAnswer:
    """One GET /ready: status code and body."""

    status: int
    body: dict[str, Any]

    def reason(self, check: str) -> str:
        """The reason /ready gave for one check (why it fails, or what it holds)."""
        return str(self.body.get("reasons", {}).get(check, ""))

    @property
    def reasons(self) -> str:
        return "; ".join(f"{name}: {why}" for name, why in sorted(self.body.get("reasons", {}).items()))


def ready_200(port: int) -> ReadyAnswer | None:
    """The /ready answer when it is 200, else None (for wait_until)."""
    answer = get_ready(port)
    return answer if answer is not None and answer.status == 200 else None


def get_ready(port: int) -> ReadyAnswer | None:
    """GET /ready, or None while the server does not answer."""
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2.0)
    except httpx.HTTPError:
        return None
    return ReadyAnswer(reply.status_code, reply.json())


def stop_service(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)

"""What a service's GET /ready answers, for tests that wait on it or read its reasons; the relay service
(tests/support/relay.py) started as a process of its own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from services.common.settings import REPO_ROOT


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


def start_relay(env: Mapping[str, str], stderr: int, **settings: str) -> subprocess.Popen[bytes]:
    """``python -m tests.support.relay`` with ``env`` and the ``AIG_*`` ``settings`` over it, its stderr to
    ``stderr`` (a pipe must be read, or a chatty relay blocks); its logs stay out of Kafka, so that only the
    relay's own records are on the test's topics."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.relay"],
        cwd=REPO_ROOT,
        env={**env, "AIG_LOG_TO_KAFKA": "false", **settings},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )

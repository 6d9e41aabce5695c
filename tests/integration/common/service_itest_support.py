"""What a service's GET /ready answers, for tests that wait on it or read its reasons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


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

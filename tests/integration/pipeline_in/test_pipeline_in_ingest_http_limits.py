"""Hostile HTTP input to ingest, on a real uvicorn socket and real Kafka: every answer is a 4xx with a
message, never a 5xx, and the service keeps answering /health."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from kit.records import interaction
from services.common.bus import EventProducer
from services.common.http import create_app, serve_in_thread
from services.ingest.api import add_routes
from services.ingest.contract import Contract
from services.ingest.service import processors
from services.ingest.settings import IngestSettings

pytestmark = pytest.mark.infra

FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture
def base_url(make_settings: Callable[..., Any]) -> Iterator[str]:
    settings: IngestSettings = make_settings(IngestSettings, group_id="ingest-limits", http_port=0)
    processor, _ = processors(settings)
    app = create_app(settings, {"kafka": lambda: processor.ready})
    add_routes(app, settings, Contract.load(), EventProducer(settings), paused=lambda: False)
    server = serve_in_thread(app, settings)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_a_50_mb_body_gets_413_unread_declared_or_chunked(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        started = time.monotonic()
        declared = client.post("/events", content=b"[" + b" " * FIFTY_MB + b"]")
        assert declared.status_code == 413, declared.text
        assert "over the limit of 4194304 bytes" in declared.json()["message"]

        def chunks() -> Iterator[bytes]:
            for _ in range(FIFTY_MB // 65536):
                yield b" " * 65536

        chunked = client.post("/events", content=chunks())
        assert chunked.status_code == 413, chunked.text
        assert time.monotonic() - started < 20
        assert client.get("/health").status_code == 200


def test_health_answers_while_a_large_batch_is_parsed(base_url: str) -> None:
    """Parsing runs off the event loop: a slow body does not make /health look hung to the healer."""
    body = b'{"events": [' + b",".join([b'{"x": [' + b"1," * 2000 + b"1]}"] * 400) + b"]}"
    assert len(body) < 4 * 1024 * 1024
    answers: list[float] = []

    def poll() -> None:
        with httpx.Client(base_url=base_url, timeout=5) as client:
            for _ in range(20):
                t = time.monotonic()
                assert client.get("/health").status_code == 200
                answers.append(time.monotonic() - t)

    with httpx.Client(base_url=base_url, timeout=60) as client:
        poller = threading.Thread(target=poll)
        poller.start()
        reply = client.post("/events", content=body)
        poller.join(30)
    assert reply.status_code == 422  # unknown fields: refused with reasons, not a 5xx
    assert len(answers) == 20 and max(answers) < 2.0, answers


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"salary_k": 10**400}, "salary_k: integer of 401 digits is too large"),
        ({"years_experience": -(10**400)}, "years_experience: integer of 401 digits is too large"),
        ({"ts": int(time.time() * 1000) + 86_400_000}, "ahead of the clock"),
        ({"hour_of_day": 10**400}, "hour_of_day"),
    ],
)
def test_values_no_double_or_clock_can_take_are_422_with_the_reason(
    base_url: str, change: dict[str, Any], words: str
) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        reply = client.post("/events", json=[{**interaction(1), **change}])
        assert reply.status_code == 422, reply.text
        assert words in reply.json()["message"]
        ok = client.post("/events", json=[interaction(2)])
        assert ok.status_code == 200 and ok.json()["accepted"] == 1

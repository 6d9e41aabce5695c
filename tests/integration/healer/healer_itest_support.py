"""Local receivers for alerts (a Slack-style webhook and an SMTP server), a healer builder and a feed of
`model.events` to a healer through the real bus."""

from __future__ import annotations

import contextlib
import json
import socketserver
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.common.bus import StreamProcessor
from services.common.connections import redis_client
from services.common.settings import CommonSettings
from services.healer.service import assemble, handler
from services.healer.settings import HealerSettings


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A tiny Slack-compatible webhook on 127.0.0.1: stores every JSON body it receives."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts", received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A minimal SMTP server (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT)."""
    received: list[dict[str, str]] = []

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write((line + "\r\n").encode())

        def handle(self) -> None:
            self.reply("220 localhost test SMTP")
            mail_from, rcpts = "", []
            while True:
                line = self.rfile.readline().decode(errors="replace").rstrip("\r\n")
                if not line:
                    return
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    self.reply("250 localhost")
                elif verb == "MAIL":
                    mail_from = line.split(":", 1)[1].strip()
                    self.reply("250 OK")
                elif verb == "RCPT":
                    rcpts.append(line.split(":", 1)[1].strip())
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    lines = []
                    while True:
                        data = self.rfile.readline().decode(errors="replace").rstrip("\r\n")
                        if data == ".":
                            break
                        lines.append(data[1:] if data.startswith("..") else data)
                    received.append({"from": mail_from, "to": ",".join(rcpts), "data": "\n".join(lines)})
                    self.reply("250 OK queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("250 OK")

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), received
    finally:
        server.shutdown()
        server.server_close()


_PREFIXES: list[str] = []


@pytest.fixture(autouse=True)
def healer_redis_cleanup(redis_url: str) -> Iterator[None]:
    """Delete the Redis keys of the healers a test built (import this fixture into each test module)."""
    yield
    client = redis_client(CommonSettings(), redis_url)
    for prefix in _PREFIXES:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    _PREFIXES.clear()


def healer_settings(topic_prefix: str, **overrides: Any) -> HealerSettings:
    """Settings isolated per test: own topics, own Redis namespace, a compose project nobody else uses."""
    base: dict[str, Any] = {
        "topic_prefix": topic_prefix,
        "log_to_kafka": False,
        "redis_prefix": f"aig:healer:test:{uuid.uuid4().hex[:8]}:",
        "compose_project": f"aigtest{uuid.uuid4().hex[:8]}",
        "cooldown_s": 60.0,
        "backoff_base_s": 0.1,
        "verify_interval_s": 0.2,
        "quiet_window_s": 1.0,
        "http_port": 0,
        "watch_urls": {},
    }
    base.update(overrides)
    _PREFIXES.append(base["redis_prefix"])
    return HealerSettings(**base)


def make_healer(settings: HealerSettings, synchronous: bool = True) -> Any:
    healer, _publisher, pool = assemble(settings, synchronous=synchronous)
    return healer, pool


@contextmanager
def running_healer(settings: HealerSettings, synchronous: bool = True) -> Iterator[Any]:
    """A healer for the block, closed with its connection pool afterwards whatever happens."""
    healer, pool = make_healer(settings, synchronous=synchronous)
    try:
        yield healer
    finally:
        healer.close()
        pool.close()


@pytest.fixture
def model_feed(topic_prefix: str) -> Iterator[Callable[[Any], None]]:
    """Feeds a healer with `model.events` through the real bus, as the service does (its consumers stop
    before the test's topics are deleted)."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def attach(healer: Any) -> None:
        proc = StreamProcessor(
            healer.settings, ["model.events"], f"healer-models-{uuid.uuid4().hex[:8]}", handler(healer)
        )
        thread = threading.Thread(target=proc.run, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)
        assert proc.wait_ready(30), "the healer's model.events consumer did not join its group within 30 s"

    yield attach
    stop.set()
    for thread in threads:
        thread.join(20)


def incident(**kw: Any) -> dict[str, Any]:
    from services.common.events import header, now_ms

    now = now_ms()
    base = {
        **header("test"),
        "incident_id": str(uuid.uuid4()),
        "fingerprint": f"fp-{uuid.uuid4().hex[:8]}",
        "type": "service_down",
        "root_cause": None,
        "service": "inference",
        "target": None,
        "severity": "critical",
        "summary": "a test incident",
        "explanation": "",
        "count": 1,
        "first_seen": now - 500,
        "last_seen": now,
        "evidence": {"detector": "test"},
    }
    base.update(kw)
    return base


# The project's images carry no Python: the host interpreter is bind-mounted read-only, as the
# project's runtime image expects. PID 1 of such a container ignores SIGTERM (it installs no handler):
# a restart waits out its whole grace period.
PYTHON_HOME = sys.base_prefix
PROBE_SERVER = """
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path in ("/health", "/ready") else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", {port}), H).serve_forever()
"""


def pick_image(client: Any) -> str:
    for name in ("aig-runtime:local", "aig-base:bookworm"):
        with contextlib.suppress(Exception):
            client.images.get(name)
            return name
    pytest.skip("no local base image (run infra/local/infra.sh up docker)")


def probe_container(client: Any, settings: HealerSettings, service: str, port: int) -> Any:
    """A container of the test's compose project, serving /health and /ready on ``port`` (host network)."""
    return client.containers.run(
        pick_image(client),
        [f"{PYTHON_HOME}/bin/python3", "-c", PROBE_SERVER.format(port=port)],
        detach=True,
        network_mode="host",
        name=f"{settings.compose_project}-{service}-1",
        labels={
            "com.docker.compose.project": settings.compose_project,
            "com.docker.compose.service": service,
            settings.health_url_label: f"http://127.0.0.1:{port}/health",
        },
        volumes={PYTHON_HOME: {"bind": PYTHON_HOME, "mode": "ro"}},
    )

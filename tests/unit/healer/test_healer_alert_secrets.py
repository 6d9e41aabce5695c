"""A webhook URL holds its token: a failing webhook is reported by status, never by URL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from kit.ports import free_port
from services.common.logs import QUIET_LOGGERS
from services.healer.alerts import Alerter
from services.healer.settings import HealerSettings

TOKEN = "T000-B000-XXXXsecretXXXX"


class _Refusing(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(403)
        self.end_headers()
        self.wfile.write(b"invalid_token")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def service_log_levels() -> Iterator[None]:
    """The levels every service runs with (services.common.logs.setup_logging), everything else at DEBUG."""
    before = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def refusing_webhook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/services/{TOKEN}"
    finally:
        server.shutdown()


def test_a_refused_webhook_is_reported_without_its_url(refusing_webhook: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = HealerSettings(alert_webhook_url=SecretStr(refusing_webhook))
    assert TOKEN not in repr(settings) and TOKEN not in settings.model_dump_json()
    with caplog.at_level(logging.DEBUG):
        result = Alerter(settings).send("subject", "text")
    assert result == {"webhook": "error: the webhook answered HTTP 403 Forbidden"}
    assert caplog.records and all(TOKEN not in r.getMessage() for r in caplog.records)


def test_an_unreachable_webhook_is_reported_without_its_url(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/{TOKEN}"
    with caplog.at_level(logging.DEBUG):
        result = Alerter(HealerSettings(alert_webhook_url=SecretStr(url), alert_timeout_s=2)).send("subject", "text")
    assert result["webhook"].startswith("error: ConnectError") and TOKEN not in result["webhook"]
    assert all(TOKEN not in r.getMessage() for r in caplog.records)

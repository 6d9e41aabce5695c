"""The HTTP face every service shares: /health (alive), /ready (dependencies) and /metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.settings import CommonSettings

log = logging.getLogger(__name__)

ReadyChecks = Mapping[str, Callable[[], bool]]


def create_app(settings: CommonSettings, ready_checks: ReadyChecks | None = None, **fastapi_kwargs: object) -> FastAPI:
    """A FastAPI app with the three standard endpoints; services add their own routes to it."""
    checks = dict(ready_checks or {})
    app = FastAPI(title=f"autoinfraguard {settings.service_name}", **fastapi_kwargs)  # type: ignore[arg-type]
    started = time.time()

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"status": "ok", "service": settings.service_name, "uptime_s": round(time.time() - started, 1)}

    @app.get("/ready")
    def ready() -> JSONResponse:
        results: dict[str, bool] = {}
        for name, check in checks.items():
            try:
                results[name] = bool(check())
            except Exception as exc:
                log.debug("ready check %s failed: %s", name, exc)
                results[name] = False
        ok = all(results.values())
        return JSONResponse({"ready": ok, "checks": results}, status_code=200 if ok else 503)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


class HttpServer:
    """uvicorn in a background thread, stoppable."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="http", daemon=True)

    def start(self, timeout_s: float = 10.0) -> HttpServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"HTTP server did not start on {self.server.config.host}:{self.server.config.port}")
            time.sleep(0.02)
        return self

    @property
    def port(self) -> int:
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self.server.config.port)

    def stop(self, timeout_s: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)


def serve_in_thread(app: FastAPI, settings: CommonSettings) -> HttpServer:
    """Start ``app`` on settings.http_host:http_port (port 0 picks a free one)."""
    return HttpServer(app, settings.http_host, settings.http_port).start()

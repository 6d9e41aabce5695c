"""The HTTP face every service shares: /health (alive), /ready (dependencies), /metrics, and one 422 answer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.settings import CommonSettings

log = logging.getLogger(__name__)

CheckResult = bool | tuple[bool, str]  # a check answers ready or not, optionally with the reason
ReadyChecks = Mapping[str, Callable[[], CheckResult]]


def run_check(check: Callable[[], CheckResult]) -> tuple[bool, str]:
    """(ok, reason) of one readiness check; a check that raises is not ready, with the error as the reason."""
    try:
        result = check()
    except Exception as exc:
        log.debug("ready check failed: %s: %s", type(exc).__name__, exc)
        return False, f"check failed: {type(exc).__name__}: {exc}"
    if isinstance(result, tuple):
        ok, reason = result
        return bool(ok), str(reason)
    return bool(result), "ok" if result else "not ready"


def readiness_body(checks: ReadyChecks) -> tuple[bool, dict[str, object]]:
    """The /ready answer: overall state, each check's state and the reason for it (why not, or what it holds)."""
    results = {name: run_check(check) for name, check in checks.items()}
    ok = all(state for state, _ in results.values())
    body: dict[str, object] = {
        "ready": ok,
        "checks": {name: state for name, (state, _) in results.items()},
        "reasons": {name: reason for name, (_, reason) in results.items()},
    }
    return ok, body


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """One line naming each invalid field and why: ``rows.0.salary_k: Input should be a valid number``."""
    parts = []
    for e in errors:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """The 422 answer of every service: a message and the errors, without the inputs.

    Inputs are not echoed: they may be huge, or NaN, which JSON cannot carry.
    """
    errors = list(exc.errors())
    return JSONResponse(
        {
            "message": validation_message(errors),
            "detail": [{k: e.get(k) for k in ("type", "loc", "msg")} for e in errors],
        },
        status_code=422,
    )


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 without being read whole.

    A declared Content-Length over the limit is refused before any byte is read; a chunked body is
    counted as it arrives and cut off at the limit, so one huge POST cannot hold the worker or memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send, declared.decode("latin-1"))
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send, f"more than {received}")

    async def _refuse(self, send: Send, size: str) -> None:
        response = JSONResponse(
            {"message": f"request body of {size} bytes is over the limit of {self.max_bytes} bytes"}, status_code=413
        )
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def create_app(
    settings: CommonSettings,
    ready_checks: ReadyChecks | None = None,
    on_invalid: Callable[[], None] | None = None,
    **fastapi_kwargs: object,
) -> FastAPI:
    """A FastAPI app with the three standard endpoints and the 422 answer; services add their routes to it.

    The checks live in ``app.state.ready_checks`` (a dict) so the runner can add the Kafka consumers' check.
    ``on_invalid`` is called on each request refused as invalid (a service's own error counter).
    """
    checks: dict[str, Callable[[], CheckResult]] = dict(ready_checks or {})
    app = FastAPI(title=f"autoinfraguard {settings.service_name}", **fastapi_kwargs)  # type: ignore[arg-type]
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.state.ready_checks = checks
    started = time.time()

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        if on_invalid is not None:
            on_invalid()
        return validation_response(exc)

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"status": "ok", "service": settings.service_name, "uptime_s": round(time.time() - started, 1)}

    @app.get("/ready")
    def ready() -> JSONResponse:
        ok, body = readiness_body(checks)
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def add_ready_check(app: FastAPI, name: str, check: Callable[[], CheckResult]) -> bool:
    """Add a readiness check to an app made by :func:`create_app`; False when it has one of that name already."""
    checks = getattr(app.state, "ready_checks", None)
    if checks is None or name in checks:
        return False
    checks[name] = check
    return True


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

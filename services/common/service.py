"""The one service contract: ``build(settings) -> Service``, run by :func:`main` from every ``__main__``.

Each service package has the same shape: ``settings.py`` (its ``AIG_*`` settings), ``handlers.py``
(pure logic, no I/O), ``service.py`` (``build``: the wiring), ``metrics.py`` and a ``__main__.py`` of
three lines. :func:`serve` owns the lifecycle every service shares, in this order: logging, signals,
Kafka and its topics, ``build``, the ``before`` steps, HTTP, the background loops, ``main`` until
SIGTERM, then the ``after`` steps. Exit code 0 on a clean stop, 2 when a dependency never came,
1 on a crash.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import FastAPI

from services.common.bus import consumers_readiness
from services.common.http import HttpServer, ReadyChecks, add_ready_check, create_app, serve_in_thread
from services.common.logs import setup_logging
from services.common.runner import DependencyError, install_signal_handlers, kafka_check, prepare_topics, wait_for
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)

Loop = Callable[[threading.Event], None]  # runs until the event is set
S = TypeVar("S", bound=CommonSettings)


@dataclass
class Service:
    """A built service: its main loop, its background loops, its HTTP face and its readiness.

    ``main`` runs on the main thread until the stop event is set, or returns an exit code of its own
    (the faust worker, which handles the signals itself while it runs). Each ``background`` loop runs
    on a thread named after its key, joined on the way out. ``before`` runs once the dependencies are
    there, ``after`` always on the way out. ``consumers_ready``: /ready also needs every
    StreamProcessor of the process to hold partitions.
    """

    main: Callable[[threading.Event], int | None]
    background: dict[str, Loop] = field(default_factory=dict)
    app: FastAPI | None = None
    ready_checks: ReadyChecks = field(default_factory=dict)
    before: list[Callable[[], object]] = field(default_factory=list)
    after: list[Callable[[], object]] = field(default_factory=list)
    consumers_ready: bool = True


def serve(settings: S, build: Callable[[S], Service]) -> int:
    """Run the service ``build`` makes from ``settings`` until SIGTERM/SIGINT; returns the exit code."""
    kafka_logs = setup_logging(settings)
    stop = threading.Event()
    server: HttpServer | None = None
    service: Service | None = None
    threads: list[threading.Thread] = []
    try:
        install_signal_handlers(stop)
        wait_for("Kafka", kafka_check(settings), settings.dependency_timeout_s, stop)
        prepare_topics(settings)
        service = build(settings)
        for step in service.before:
            step()
        if settings.http_port:
            app = service.app or create_app(settings, service.ready_checks)
            if service.consumers_ready:
                add_ready_check(app, "kafka_assignment", consumers_readiness)
            server = serve_in_thread(app, settings)
            log.info("serving HTTP on %s:%d", settings.http_host, server.port)
        for name, loop in service.background.items():
            thread = threading.Thread(target=loop, args=(stop,), name=name, daemon=True)
            thread.start()
            threads.append(thread)
        log.info("%s started", settings.service_name)
        code = service.main(stop) or 0
        log.info("%s stopped%s", settings.service_name, " cleanly" if code == 0 else f" with exit code {code}")
        return code
    except DependencyError as exc:
        log.error("%s cannot start: %s", settings.service_name, exc)
        return 2
    except Exception:
        log.exception("%s crashed", settings.service_name)
        return 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(settings.shutdown_timeout_s)
        for step in service.after if service is not None else []:
            try:
                step()
            except Exception:
                log.exception("%s: a shutdown step failed", settings.service_name)
        if server is not None:
            server.stop()
        if kafka_logs is not None:
            kafka_logs.close()


def main(build: Callable[[S], Service], settings_type: type[S]) -> int:
    """The body of every service's ``__main__``: settings from the environment, then :func:`serve`."""
    try:
        settings = settings_type()
    except Exception as exc:  # pydantic names each bad AIG_* variable
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 2
    return serve(settings, build)

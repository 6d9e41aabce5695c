"""Process lifecycle shared by every service: logging, signals, dependencies, topics, HTTP, clean exit."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI

from services.common.bus import consumers_readiness
from services.common.http import ReadyChecks, add_ready_check, create_app, serve_in_thread
from services.common.logs import setup_logging
from services.common.settings import CommonSettings
from services.common.topics import TopicError, ensure_topics

log = logging.getLogger(__name__)


class DependencyError(RuntimeError):
    """A dependency did not become reachable in time."""


def wait_for(name: str, check: Callable[[], object], timeout_s: float, stop: threading.Event | None = None) -> None:
    """Call ``check`` until it stops raising; raise DependencyError with the last error after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        try:
            check()
            return
        except Exception as exc:
            if time.monotonic() + delay > deadline or (stop is not None and stop.is_set()):
                raise DependencyError(f"{name} not reachable after {timeout_s:.0f} s: {exc}") from exc
            log.info("waiting for %s: %s", name, exc)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def kafka_check(settings: CommonSettings) -> Callable[[], object]:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})

    def check() -> object:
        try:
            return admin.list_topics(timeout=2.0)
        except KafkaException as exc:
            raise ConnectionError(f"Kafka at {settings.kafka_bootstrap}: {exc.args[0].str()}") from exc

    return check


def prepare_topics(settings: CommonSettings) -> list[str]:
    """Create the catalogue topics and wait until the broker serves them, so no consumer subscribes to a missing one."""
    try:
        return ensure_topics(settings, timeout_s=settings.dependency_timeout_s)
    except TopicError as exc:
        raise DependencyError(str(exc)) from exc


def install_signal_handlers(stop: threading.Event) -> None:
    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping after the batch in flight", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def run_service(
    settings: CommonSettings,
    main: Callable[[threading.Event], None],
    *,
    ready_checks: ReadyChecks | None = None,
    app: FastAPI | None = None,
    create_topics: bool = True,
) -> int:
    """Run a service until SIGTERM/SIGINT; returns the process exit code.

    /ready also requires every Kafka consumer of the process to hold partitions (check ``kafka_assignment``).
    """
    kafka_logs = setup_logging(settings)
    stop = threading.Event()
    install_signal_handlers(stop)
    server = None
    try:
        wait_for("Kafka", kafka_check(settings), settings.dependency_timeout_s, stop)
        if create_topics:
            prepare_topics(settings)
        if settings.http_port:
            http_app = app or create_app(settings, ready_checks)
            add_ready_check(http_app, "kafka_assignment", consumers_readiness)
            server = serve_in_thread(http_app, settings)
            log.info("serving HTTP on %s:%d", settings.http_host, server.port)
        log.info("%s started", settings.service_name)
        main(stop)
        log.info("%s stopped cleanly", settings.service_name)
        return 0
    except DependencyError as exc:
        log.error("%s cannot start: %s", settings.service_name, exc)
        return 2
    except Exception:
        log.exception("%s crashed", settings.service_name)
        return 1
    finally:
        if server is not None:
            server.stop()
        if kafka_logs is not None:
            kafka_logs.close()

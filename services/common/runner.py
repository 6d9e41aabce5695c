"""Lifecycle pieces every service shares: signals, waiting for a dependency, Kafka and its topics.

:func:`services.common.service.serve` puts them together.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

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

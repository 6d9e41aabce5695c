"""Feature wiring: migrations, faust's internal topics, the offline sink thread and the faust worker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import faust

from services.common.bus import EventProducer, StreamProcessor
from services.common.connections import postgres_conninfo, postgres_ready, redis_ready
from services.common.db import migrate
from services.common.http import CheckResult
from services.common.logs import setup_logging
from services.common.runner import DependencyError, wait_for
from services.common.service import Service
from services.common.topics import TopicError, ensure_kafka_topics
from services.feature.app import FeatureApp, build_app, internal_topics, watch_readiness
from services.feature.offline import build_sink
from services.feature.readiness import WorkerReadiness
from services.feature.settings import FeatureSettings

log = logging.getLogger(__name__)


def prepare_internal_topics(settings: FeatureSettings, fa: FeatureApp) -> list[str]:
    """Create faust's own topics before the worker starts, so its first assignment covers them."""
    try:
        return ensure_kafka_topics(settings.kafka_bootstrap, internal_topics(fa), settings.dependency_timeout_s)
    except TopicError as exc:
        raise DependencyError(str(exc)) from exc


def ready_checks(
    settings: FeatureSettings, worker: WorkerReadiness, sink: StreamProcessor | None
) -> dict[str, Callable[[], CheckResult]]:
    """/ready: the faust worker, the online store, and the offline sink's consumer and database when it runs."""
    checks: dict[str, Callable[[], CheckResult]] = {"faust_worker": worker, "redis": redis_ready(settings)}
    if sink is not None:
        checks["offline_sink"] = sink.readiness
        checks["postgres"] = postgres_ready(settings)
    return checks


def build(settings: FeatureSettings) -> Service:
    """The faust worker runs on the main thread (it handles SIGTERM itself); the offline sink on a thread."""
    sink = None
    if settings.run_offline_sink:
        wait_for("PostgreSQL", lambda: migrate(postgres_conninfo(settings)), settings.dependency_timeout_s)
        sink = build_sink(settings)
    fa = build_app(settings, dead_letters=EventProducer(settings))
    created = prepare_internal_topics(settings, fa)
    if created:
        log.info("created faust's internal topics before starting it: %s", ", ".join(created))
    readiness = watch_readiness(fa)

    @fa.app.task  # type: ignore[untyped-decorator]  # faust is untyped
    async def relog() -> None:
        setup_logging(settings)  # the faust worker set its own logging up at start: take it back
        log.info("feature worker started (app %s)", fa.app.conf.id)

    def run_worker(stop: threading.Event) -> int:
        if stop.is_set():
            return 0  # SIGTERM came while starting: faust, which takes the signals over, never starts
        worker = faust.Worker(fa.app, loglevel=settings.log_level.lower(), redirect_stdouts=False)
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            return int(exc.code or 0)
        finally:
            readiness.mark_not_ready("faust worker stopped")
        return 0

    return Service(
        main=run_worker,
        background={"offline-sink": sink.run} if sink is not None else {},
        ready_checks=ready_checks(settings, readiness, sink),
        consumers_ready=False,  # the worker's consumers are faust's; /ready asks the worker itself
    )

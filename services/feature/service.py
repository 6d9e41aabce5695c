"""Feature wiring: topics, migrations, the offline sink thread, the shared HTTP endpoints, the faust worker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import faust

from services.common.bus import EventProducer, StreamProcessor
from services.common.db import migrate
from services.common.http import CheckResult, HttpServer, create_app, serve_in_thread
from services.common.logs import setup_logging
from services.common.runner import DependencyError, kafka_check, prepare_topics, wait_for
from services.common.topics import TopicError, ensure_kafka_topics
from services.feature.app import FeatureApp, build, internal_topics, watch_readiness
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


def ready_checks(worker: WorkerReadiness, sink: StreamProcessor | None) -> dict[str, Callable[[], CheckResult]]:
    """/ready: the faust worker, and the offline sink's consumer when it runs."""
    checks: dict[str, Callable[[], CheckResult]] = {"faust_worker": worker}
    if sink is not None:
        checks["offline_sink"] = sink.readiness
    return checks


def _serve_http(settings: FeatureSettings, checks: dict[str, Callable[[], CheckResult]]) -> HttpServer | None:
    if not settings.http_port:
        return None
    server = serve_in_thread(create_app(settings, checks), settings)
    log.info("serving HTTP on %s:%d", settings.http_host, server.port)
    return server


def run(settings: FeatureSettings) -> int:
    setup_logging(settings)
    try:
        wait_for("Kafka", kafka_check(settings), settings.dependency_timeout_s)
        prepare_topics(settings)
        sink = None
        if settings.run_offline_sink:
            wait_for("PostgreSQL", lambda: migrate(settings.postgres_dsn), settings.dependency_timeout_s)
            sink = build_sink(settings)
        fa = build(settings, dead_letters=EventProducer(settings))
        created = prepare_internal_topics(settings, fa)
    except DependencyError as exc:
        log.error("%s cannot start: %s", settings.service_name, exc)
        return 2
    if created:
        log.info("created faust's internal topics before starting it: %s", ", ".join(created))
    readiness = watch_readiness(fa)
    server = _serve_http(settings, ready_checks(readiness, sink))
    stop = threading.Event()
    threads = []
    if sink is not None:
        threads.append(threading.Thread(target=sink.run, args=(stop,), name="offline-sink", daemon=True))

    @fa.app.task
    async def relog() -> None:
        setup_logging(settings)  # the faust worker set its own logging up at start: take it back
        log.info("feature worker started (app %s)", fa.app.conf.id)

    for t in threads:
        t.start()
    worker = faust.Worker(fa.app, loglevel=settings.log_level.lower(), redirect_stdouts=False)
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        readiness.mark_not_ready("faust worker stopped")
        stop.set()
        for t in threads:
            t.join(settings.shutdown_timeout_s)
        if server is not None:
            server.stop()
    return code

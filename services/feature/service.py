"""Feature wiring: topics, migrations, the offline sink thread, the shared HTTP endpoints, the faust worker."""

from __future__ import annotations

import logging
import threading

import faust

from services.common.bus import EventProducer
from services.common.db import migrate
from services.common.http import create_app, serve_in_thread
from services.common.logs import setup_logging
from services.common.runner import kafka_check, wait_for
from services.common.topics import ensure_topics
from services.feature.app import build
from services.feature.offline import build_sink
from services.feature.settings import FeatureSettings

log = logging.getLogger(__name__)


def run(settings: FeatureSettings) -> int:
    setup_logging(settings)
    wait_for("Kafka", kafka_check(settings), settings.dependency_timeout_s)
    ensure_topics(settings)
    stop = threading.Event()
    sink = None
    threads = []
    if settings.run_offline_sink:
        wait_for("PostgreSQL", lambda: migrate(settings.postgres_dsn), settings.dependency_timeout_s)
        sink = build_sink(settings)
        threads.append(threading.Thread(target=sink.run, args=(stop,), name="offline-sink", daemon=True))
    fa = build(settings, dead_letters=EventProducer(settings))
    checks = {"offline_sink": (lambda: sink.ready)} if sink is not None else {}
    server = serve_in_thread(create_app(settings, checks), settings) if settings.http_port else None

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
        stop.set()
        for t in threads:
            t.join(settings.shutdown_timeout_s)
        if server is not None:
            server.stop()
    return code

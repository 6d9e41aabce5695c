"""Trainer wiring: the commands consumer, the first-model watcher and the HTTP endpoints."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import psycopg

from services.common import db
from services.common.bus import ContractError, Event, EventProducer, Out, RetryableError, StreamProcessor
from services.common.http import create_app
from services.common.runner import run_service
from services.trainer.handlers import CommandError
from services.trainer.settings import TrainerSettings
from services.trainer.training import Trainer

log = logging.getLogger(__name__)


def _outs(records: list[dict], key: str) -> list[Out]:
    return [Out("model.events", r, key=key) for r in records]


def run(settings: TrainerSettings) -> int:
    trainer = Trainer(settings, lambda: db.connect(settings))

    def handle(event: Event) -> Iterable[Out]:
        try:
            return _outs(trainer.handle_command(event.value), settings.model_name)
        except CommandError as exc:
            raise ContractError(str(exc)) from exc
        except psycopg.OperationalError as exc:
            raise RetryableError(f"PostgreSQL unavailable: {exc}") from exc

    # The group name carries the topic prefix, so isolated runs (tests, benchmarks) never share a group.
    processor = StreamProcessor(settings, ["commands"], group_id=settings.topic(settings.service_name), handle=handle)

    def watch_first_model(stop: threading.Event) -> None:
        producer = EventProducer(settings)
        while not stop.wait(settings.check_interval_s):
            try:
                records = trainer.bootstrap_if_needed()
            except psycopg.Error as exc:
                log.warning("first-model check failed, retrying: %s", exc)
                continue
            except Exception:
                # Keep watching: the next check may succeed (e.g. after disk space is freed).
                log.exception("training the first model failed")
                continue
            for record in records:
                producer.produce("model.events", record, key=settings.model_name)
            producer.flush()

    def pg_ok() -> bool:
        with db.connect(settings) as conn:
            conn.execute("SELECT 1")
        return True

    def main(stop: threading.Event) -> None:
        db.migrate(settings.postgres_dsn)
        watcher = threading.Thread(target=watch_first_model, args=(stop,), name="first-model", daemon=True)
        watcher.start()
        processor.run(stop)
        watcher.join(settings.shutdown_timeout_s)

    ready = {"kafka": lambda: processor.ready, "postgres": pg_ok}
    return run_service(settings, main, ready_checks=ready, app=create_app(settings, ready))

"""Trainer wiring: the commands consumer, the first-model watcher and the HTTP endpoints."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import psycopg

from services.common import db
from services.common.bus import Event, EventProducer, Out, RetryableError, StreamProcessor
from services.common.connections import postgres_conninfo, postgres_ready
from services.common.http import create_app
from services.common.service import Service
from services.trainer.settings import TrainerSettings
from services.trainer.training import Trainer

log = logging.getLogger(__name__)


def _outs(records: list[dict[str, Any]], key: str) -> list[Out]:
    return [Out("model.events", r, key=key) for r in records]


def build(settings: TrainerSettings) -> Service:
    trainer = Trainer(settings, lambda: db.connect(settings))

    def handle(event: Event) -> Iterable[Out]:
        try:  # a command it cannot obey raises CommandError, a ContractError: dead-lettered
            return _outs(trainer.handle_command(event.value), settings.model_name)
        except psycopg.OperationalError as exc:
            raise RetryableError(f"PostgreSQL unavailable: {exc}") from exc

    processor = StreamProcessor(settings, ["commands"], group_id=settings.consumer_group(), handle=handle)

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

    ready = {"kafka": lambda: processor.ready, "postgres": postgres_ready(settings)}
    return Service(
        main=processor.run,
        background={"first-model": watch_first_model},
        app=create_app(settings, ready),
        before=[lambda: db.migrate(postgres_conninfo(settings))],
    )

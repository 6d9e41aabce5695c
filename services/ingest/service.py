"""Ingest wiring: interactions.raw -> contract -> interactions.valid, commands (quarantine), HTTP /events."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable

from services.common.bus import Event, EventProducer, Out, StreamProcessor
from services.common.http import create_app
from services.common.runner import run_service
from services.ingest import handlers
from services.ingest.api import add_routes
from services.ingest.contract import Contract
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)


def build(settings: IngestSettings) -> tuple[StreamProcessor, StreamProcessor]:
    contract = Contract.load(settings.contract_path)
    processor = StreamProcessor(
        settings, ["interactions.raw"], settings.group_id, lambda e: [handlers.validate(contract, e.value)]
    )

    def on_command(event: Event) -> Iterable[Out]:
        pause = handlers.pause_command(event.value, settings.service_name)
        if pause is True and not processor.paused:
            log.warning("quarantine: pausing ingest (%s)", event.value.get("reason") or "no reason given")
            processor.pause()
        elif pause is False and processor.paused:
            log.info("resuming ingest (%s)", event.value.get("reason") or "no reason given")
            processor.resume()
        return []

    # Every replica reads every command from the start (own group): the last pause/resume wins after a restart.
    commands = StreamProcessor(
        settings, ["commands"], f"{settings.group_id}-commands-{uuid.uuid4().hex[:8]}", on_command
    )
    return processor, commands


def run(settings: IngestSettings) -> int:
    processor, commands = build(settings)
    app = create_app(settings, {"kafka": lambda: processor.ready})
    add_routes(
        app, settings, Contract.load(settings.contract_path), EventProducer(settings), paused=lambda: processor.paused
    )

    def main(stop: threading.Event) -> None:
        t = threading.Thread(target=commands.run, args=(stop,), name="commands", daemon=True)
        t.start()
        processor.run(stop)
        t.join(settings.shutdown_timeout_s)

    return run_service(settings, main, app=app)

"""Ingest wiring: interactions.raw -> contract -> interactions.valid, commands (quarantine), HTTP /events."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from services.common.bus import Event, EventProducer, Out, StreamProcessor
from services.common.commands import authenticate_command
from services.common.http import create_app
from services.common.service import Service
from services.ingest import handlers
from services.ingest.api import add_routes
from services.ingest.contract import Contract
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)


def processors(settings: IngestSettings) -> tuple[StreamProcessor, StreamProcessor]:
    """The contract check on interactions.raw, and the reader of quarantine commands that pauses it."""
    contract = Contract.load(settings.contract_path)
    processor = StreamProcessor(
        settings, ["interactions.raw"], settings.consumer_group(), lambda e: [handlers.validate(contract, e.value)]
    )

    def on_command(event: Event) -> Iterable[Out]:
        pause = handlers.pause_command(event.value, settings.service_name)
        if pause is not None:
            authenticate_command(event.value, settings)
        if pause is True and not processor.paused:
            log.warning("quarantine: pausing ingest (%s)", event.value.get("reason") or "no reason given")
            processor.pause()
        elif pause is False and processor.paused:
            log.info("resuming ingest (%s)", event.value.get("reason") or "no reason given")
            processor.resume()
        return []

    # Every replica reads every command from the start (own group): the last pause/resume wins after a restart.
    commands = StreamProcessor(
        settings, ["commands"], settings.consumer_group("commands", per_replica=True), on_command
    )
    return processor, commands


def build(settings: IngestSettings) -> Service:
    processor, commands = processors(settings)
    app = create_app(settings, {"kafka": lambda: processor.ready})
    add_routes(
        app, settings, Contract.load(settings.contract_path), EventProducer(settings), paused=lambda: processor.paused
    )
    return Service(main=processor.run, background={"commands": commands.run}, app=app)

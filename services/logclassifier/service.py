"""Wiring: a StreamProcessor on `logs` whose batch handler classifies and emits `incidents`."""

from __future__ import annotations

import threading

from services.common.bus import Event, Out, StreamProcessor
from services.common.service import Service
from services.common.signing import authenticate_event
from services.logclassifier.aggregator import BurstAggregator
from services.logclassifier.build import build_classifier
from services.logclassifier.handlers import LogClassifier, LogRecordHandler
from services.logclassifier.settings import LogClassifierSettings


def make_processor(
    settings: LogClassifierSettings, classifier: LogClassifier | None = None
) -> tuple[StreamProcessor, LogRecordHandler]:
    classifier = classifier or build_classifier(settings)
    aggregator = BurstAggregator(
        settings.burst_window_s,
        settings.burst_min_count,
        settings.cooldown_s,
        settings.incident_on_unknown,
        source=settings.service_name,
        min_count_by_cause=settings.burst_min_count_by_cause,
        update_interval_s=settings.update_interval_s,
    )
    handler = LogRecordHandler(
        classifier,
        aggregator,
        settings.service_name,
        settings.known_services,
        settings.min_level,
        echo_loggers=settings.echo_loggers,
    )

    def handle_batch(events: list[Event]) -> list[Out]:
        """Only signed records are classified: a forged burst could otherwise make the healer act. A batch
        holding a forged record is handled again one by one, so only that record is dead-lettered."""
        for event in events:
            authenticate_event("logs", event.value, settings)
        return handler.handle_batch(events)

    processor = StreamProcessor(
        settings, inputs=["logs"], group_id=settings.consumer_group(), handle_batch=handle_batch
    )
    return processor, handler


def build(settings: LogClassifierSettings) -> Service:
    """The classifier loads in ``main`` (tens of seconds): /health answers meanwhile, /ready waits."""
    state: dict[str, object] = {}

    def run(stop: threading.Event) -> None:
        processor, handler = make_processor(settings)
        state["processor"] = processor
        try:
            processor.run(stop)
        finally:
            handler.lines.templates.save("shutdown")

    def consuming() -> bool:
        p = state.get("processor")
        return isinstance(p, StreamProcessor) and p.ready

    return Service(main=run, ready_checks={"model_loaded_and_consuming": consuming})

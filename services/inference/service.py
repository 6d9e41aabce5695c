"""Inference wiring: features -> predictions consumer, model/command watcher, HTTP API."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterable

import psycopg

from services.common import db
from services.common.bus import Event, NotReadyError, Out, RetryableError, StreamProcessor
from services.common.commands import authenticate_command
from services.common.connections import postgres_ready
from services.common.events import now_ms
from services.common.http import create_app
from services.common.model.artifacts import ArtifactError
from services.common.service import Service
from services.common.signing import authenticate_event
from services.inference import handlers, metrics
from services.inference.api import OnlineStore, add_routes
from services.inference.holder import ModelHolder
from services.inference.loading import ModelLoader
from services.inference.settings import InferenceSettings

log = logging.getLogger(__name__)


def build(settings: InferenceSettings) -> Service:
    holder = ModelHolder()
    loader = ModelLoader(settings.model_name, holder, lambda: db.connect(settings))
    started_ms = now_ms()

    def score(events: list[Event]) -> Iterable[Out]:
        model = holder.current
        if model is None:
            raise NotReadyError(f"no version of {settings.model_name} loaded yet")
        records = handlers.score_feature_vectors(model, [e.value for e in events], settings.service_name)
        metrics.PREDICTIONS.labels("kafka").inc(len(records))
        if records:
            metrics.PREDICT_SECONDS.labels("kafka").observe(records[0]["latency_ms"] / 1000.0)
        return [Out("predictions", r, key=r["interaction_id"]) for r in records]

    def control(event: Event) -> Iterable[Out]:
        since = started_ms - int(settings.replay_margin_s * 1000)
        try:
            action = handlers.control_action(
                event.topic, event.value, settings.model_name, settings.service_name, since
            )
            if action == "reload":
                authenticate_command(event.value, settings)
            elif action is not None:  # a model event: only the trainer's (signed) may make us look
                authenticate_event("model.events", event.value, settings)
            if action is not None:
                loader.refresh(force=action == "reload")
        except psycopg.OperationalError as exc:
            raise RetryableError(f"model registry unavailable: {exc}") from exc
        except ArtifactError as exc:
            # The command was valid; the model is broken. Say so loudly (the log-classifier turns it into a
            # model_error incident) and keep serving the previous version.
            log.error("model_error: cannot load the live model, still serving the previous one: %s", exc)
        return []

    features = StreamProcessor(settings, ["features"], group_id=settings.consumer_group(), handle_batch=score)
    # Every replica must see every model event and command: a group of its own, read from the start
    # (old events are skipped by time: what they announced is in the registry read at start).
    watcher = StreamProcessor(
        settings,
        ["model.events", "commands"],
        group_id=settings.consumer_group("control", per_replica=True),
        handle=control,
    )

    def watch(stop: threading.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                loader.refresh()
                break
            except (psycopg.Error, ArtifactError) as exc:
                log.warning("cannot load the live model at start, retrying in %.1f s: %s", delay, exc)
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
        watcher.run(stop)

    ready = {
        "model": lambda: holder.loaded,
        "kafka": lambda: features.ready and watcher.ready,
        "postgres": postgres_ready(settings),  # the registry: a new model cannot load without it
    }
    app = create_app(settings, ready, on_invalid=metrics.REQUEST_ERRORS.labels("422").inc)
    add_routes(app, settings, holder, OnlineStore(settings, settings.redis_key_prefix))
    # Everything allocated so far lives as long as the process: keep it out of the cyclic GC, whose
    # full passes over ~150k start-up objects pause every request for tens of milliseconds.
    gc.freeze()
    return Service(main=features.run, background={"model-watch": watch}, app=app)

"""Wiring of the drift service: Kafka in (features, predictions, labels, model.events), incidents out."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import redis

from services.common.bus import Event, Out, StreamProcessor
from services.common.connections import redis_client, redis_ready
from services.common.service import Service
from services.common.signing import authenticate_event
from services.drift import metrics
from services.drift.config import load_thresholds
from services.drift.handlers import DriftMonitor
from services.drift.settings import DriftSettings
from services.drift.store import RedisCheckpointer, RedisPendingStore

log = logging.getLogger(__name__)

INPUTS = ["features", "predictions", "labels", "model.events"]


class DriftService:
    """The monitor, its Redis stores and a periodic checkpoint around one StreamProcessor."""

    def __init__(self, settings: DriftSettings) -> None:
        self.settings = settings
        client = redis_client(settings, socket_timeout=5)
        prefix = f"{settings.redis_prefix}{settings.topic_prefix}"
        self.pending = RedisPendingStore(client, prefix, settings.pending_ttl_s)
        self.checkpointer = RedisCheckpointer(
            client, f"{prefix}checkpoint:{settings.checkpoint_name or settings.consumer_group()}"
        )
        thresholds = load_thresholds(settings.thresholds_path)
        if settings.season_period_s:
            season = thresholds.season.model_copy(update={"period_s": settings.season_period_s})
            thresholds = thresholds.model_copy(update={"season": season})
        self.monitor = DriftMonitor(thresholds, self.pending, settings.service_name)
        self.processor = StreamProcessor(
            settings,
            INPUTS,
            settings.consumer_group(),
            self.handle,
            # Small fetches per partition interleave the partitions finely: a detector reading a
            # backlog in long single-partition runs (a subset of members at a time) sees drift that
            # is only the consumption order.
            consumer_config={"max.partition.fetch.bytes": settings.max_partition_fetch_bytes},
        )
        self._last_checkpoint = time.monotonic()

    def restore(self) -> None:
        blob = self.checkpointer.load()
        if blob and self.monitor.restore(blob):
            log.info("drift detectors restored from checkpoint %s", self.checkpointer.key)

    def checkpoint(self) -> None:
        try:
            self.checkpointer.save(self.monitor.snapshot())
            metrics.CHECKPOINTS.labels("ok").inc()
        except redis.RedisError as exc:
            metrics.CHECKPOINTS.labels("failed").inc()
            log.warning("drift checkpoint failed, will retry: %s", exc)
        self._last_checkpoint = time.monotonic()

    def handle(self, event: Event) -> Iterable[Out]:
        if event.topic == "model.events":  # a forged one would reset the references and blind detection
            authenticate_event("model.events", event.value, self.settings)
        incidents = self.monitor.handle(event.topic, event.value)
        if time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_interval_s:
            self.checkpoint()  # same thread as the handler: the state is consistent
        return [Out("incidents", inc, key=inc["fingerprint"]) for inc in incidents]

    def run(self, stop: threading.Event) -> None:
        self.restore()
        try:
            self.processor.run(stop)
        finally:
            self.checkpoint()


def build(settings: DriftSettings) -> Service:
    drift = DriftService(settings)
    ready = {"kafka_partitions": lambda: drift.processor.ready, "redis": redis_ready(settings)}
    return Service(main=drift.run, ready_checks=ready)

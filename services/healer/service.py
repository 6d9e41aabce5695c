"""Wiring only: Kafka in (incidents, model.events) -> Healer -> Kafka out (actions, commands, audit); the audit
sink replays `audit` into PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import docker
import redis

from services.common import db
from services.common.bus import ContractError, Event, EventProducer, Out, RetryableError, StreamProcessor
from services.common.connections import postgres_conninfo, postgres_ready, redis_client, redis_ready
from services.common.http import create_app
from services.common.service import Loop, Service
from services.common.signing import authenticate_event
from services.healer.actions.registry import check_step, known_actions
from services.healer.alerts import Alerter
from services.healer.api import add_routes
from services.healer.audit import Auditor
from services.healer.audit_log import sink_handler
from services.healer.engine import Healer
from services.healer.policy import load_policy
from services.healer.safety import SafetyStore
from services.healer.settings import HealerSettings
from services.healer.watch import HealthWatch


class LockedPublisher:
    """Produce and wait for the ack, one caller at a time (episodes publish from worker threads)."""

    def __init__(self, producer: EventProducer) -> None:
        self.producer = producer
        self.lock = threading.Lock()

    def __call__(self, topic: str, value: dict[str, Any], key: str | None) -> None:
        with self.lock:
            self.producer.produce(topic, value, key)
            self.producer.flush(30.0)


def assemble(settings: HealerSettings, *, synchronous: bool = False) -> tuple[Healer, LockedPublisher, Any]:
    """The healer and its dependencies (tests build it the same way)."""
    policy = load_policy(settings.policy_path, known_actions(), check_step)
    client = redis_client(settings, socket_timeout=5)
    safety = SafetyStore(client, settings.redis_prefix, settings.dedupe_ttl_s)
    publisher = LockedPublisher(EventProducer(settings))
    db.migrate(postgres_conninfo(settings))
    pool = db.pool(settings)
    docker_client = lru_cache(maxsize=1)(docker.from_env)
    healer = Healer(
        settings,
        policy,
        safety,
        Auditor(publisher, pool, source=settings.service_name),
        Alerter(settings),
        publisher,
        docker_client,
        synchronous=synchronous,
    )
    return healer, publisher, pool


def handler(healer: Healer) -> Any:
    def handle(event: Event) -> Iterable[Out]:
        topic = event.topic
        if topic not in ("model.events", "incidents"):
            raise ContractError(f"the healer does not consume {topic}")
        # Forged incidents would spend the action budget or restart containers; a forged model event would
        # verify a retrain that never happened. Refused and dead-lettered with the reason.
        authenticate_event(topic, event.value, healer.settings)
        try:
            if topic == "model.events":
                healer.on_model_event(event.value)
            else:
                healer.on_incident(event.value)
        except redis.RedisError as exc:  # shared state unreachable: retry, never act blind
            raise RetryableError(f"redis: {exc}") from exc
        return ()

    return handle


def build(settings: HealerSettings) -> Service:
    healer, publisher, pool = assemble(settings)
    processor = StreamProcessor(settings, ["incidents", "model.events"], settings.consumer_group(), handler(healer))
    audit_sink = StreamProcessor(settings, ["audit"], settings.consumer_group("audit"), sink_handler(pool))
    watch = HealthWatch(
        settings, lambda rec: publisher("incidents", rec, rec["fingerprint"]), healer.safety, healer.docker
    )
    app = add_routes(
        create_app(
            settings,
            {"kafka": lambda: processor.ready, "redis": redis_ready(settings), "postgres": postgres_ready(settings)},
        ),
        healer.auditor,
        healer.resolve_by_human,
    )

    background: dict[str, Loop] = {"audit-sink": audit_sink.run}
    if settings.watch_enabled:
        background["health-watch"] = watch.run
    return Service(
        main=processor.run,
        background=background,
        app=app,
        after=[healer.close, pool.close],
    )

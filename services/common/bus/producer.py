"""The idempotent Avro producer: records encoded with their topic's schema, acked by every in-sync replica."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from services.common import (
    metrics,
    signing,  # signing raises bus errors: by module, so either may load first
)
from services.common.bus.errors import DeliveryError
from services.common.codec import AvroCodec, codec_for
from services.common.settings import CommonSettings
from services.common.topics import topic_spec


class EventProducer:
    """Encodes records with their topic's schema and produces them idempotently."""

    def __init__(
        self,
        settings: CommonSettings,
        codec: AvroCodec | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.codec = codec or codec_for(Path(settings.schemas_dir))
        conf: dict[str, Any] = {
            "bootstrap.servers": settings.kafka_bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
            "compression.type": "lz4",
            "message.timeout.ms": 120_000,
            "client.id": settings.service_name,
        }
        conf.update(config or {})
        self._producer = Producer(conf)
        self._failures: list[tuple[str, str]] = []
        self._pending: dict[str, int] = {}
        self._since_poll = 0
        self._schema_of: dict[str, str] = {}
        self._real: dict[str, str] = {}

    def _schema(self, topic: str) -> str:
        schema = self._schema_of.get(topic)
        if schema is None:
            schema = self._schema_of[topic] = topic_spec(self.settings, topic).schema
        return schema

    def encode(self, topic: str, value: dict[str, Any]) -> bytes:
        """Encode ``value`` with the schema of logical ``topic`` (raises CodecError); a control event is
        signed on the way (raises UnsignedEvent when this process holds no key to sign it)."""
        schema = self._schema_of.get(topic) or self._schema(topic)
        if topic in signing.SIGNED_TOPICS and not value.get("signature"):
            value = signing.sign_event(topic, value, self.settings)
        return self.codec.encode(schema, value)

    def produce(self, topic: str, value: dict[str, Any], key: str | None = None) -> None:
        """Queue one record for logical ``topic``; call :meth:`flush` to wait for delivery."""
        self.produce_raw(topic, self.encode(topic, value), key)

    def produce_raw(self, topic: str, data: bytes, key: str | bytes | None = None) -> None:
        """Queue already-encoded bytes (used for dead letters and pass-through)."""
        real = self._real.get(topic)
        if real is None:
            real = self._real[topic] = self.settings.topic(topic)
        while True:
            try:
                self._producer.produce(real, data, key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.1)  # local queue full: let deliveries drain
        self._pending[topic] = self._pending.get(topic, 0) + 1
        self._since_poll += 1
        if self._since_poll >= 1000:  # serve delivery reports now and then, not per event
            self._since_poll = 0
            self._producer.poll(0)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            topic = self.settings.logical_topic(msg.topic() or "?")
            metrics.PRODUCE_ERRORS.labels(self.settings.service_name, topic).inc()
            self._failures.append((topic, err.str()))

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every queued record is acknowledged; raise DeliveryError otherwise."""
        remaining = self._producer.flush(timeout_s)
        failures, self._failures = self._failures, []
        pending, self._pending = self._pending, {}
        failed_by_topic: dict[str, int] = {}
        for topic, _ in failures:
            failed_by_topic[topic] = failed_by_topic.get(topic, 0) + 1
        if not remaining:
            for topic, count in pending.items():
                delivered = count - failed_by_topic.get(topic, 0)
                if delivered > 0:
                    metrics.MESSAGES_OUT.labels(self.settings.service_name, topic).inc(delivered)
        if remaining:
            raise DeliveryError(f"{remaining} events not acknowledged within {timeout_s} s")
        if failures:
            raise DeliveryError(f"{len(failures)} events failed: {failures[0][0]}: {failures[0][1]}")

    def poll(self, timeout_s: float = 0) -> None:
        self._producer.poll(timeout_s)

    def __len__(self) -> int:
        return len(self._producer)

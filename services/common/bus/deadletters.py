"""Dead-lettering: a poison input goes to ``deadletter`` with the reason and its raw bytes, and the loop goes on."""

from __future__ import annotations

import logging
from typing import Literal

from confluent_kafka import Message

from services.common import metrics
from services.common.bus.producer import EventProducer
from services.common.deadletter import dead_letter_record
from services.common.settings import CommonSettings

log = logging.getLogger("services.common.bus")  # one logger for the whole bus, so its records filter as one

# decode: the bytes are not an event of the topic's schema; contract: the handler found the event breaks
# the data contract; handler: the handler raised, or produced an event its topic's schema refuses.
DeadLetterKind = Literal["decode", "contract", "handler"]


class DeadLetters:
    """Sends the inputs of one consumer group that cannot be used to ``deadletter``, and counts them."""

    def __init__(self, settings: CommonSettings, producer: EventProducer, group_id: str) -> None:
        self.settings = settings
        self.producer = producer
        self.group_id = group_id
        self._service = settings.service_name
        self.count = 0

    def send(self, msg: Message, kind: DeadLetterKind, reason: str) -> None:
        """Queue the dead letter with the batch's outputs: it is committed with them, after Kafka acknowledged it."""
        topic = self.settings.logical_topic(msg.topic() or "")
        record = dead_letter_record(
            self._service,
            topic=topic,
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            key=msg.key(),
            error_type=kind,
            error=reason,
            consumer_group=self.group_id,
            raw=msg.value(),
        )
        self.producer.produce("deadletter", record, key=topic)
        self.count += 1
        metrics.MESSAGES_FAILED.labels(self._service, topic, kind).inc()
        log.warning("dead-lettered %s[%d]@%d (%s): %s", topic, msg.partition(), msg.offset(), kind, reason[:500])

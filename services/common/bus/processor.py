"""The consume-process-produce loop: poll a batch, decode, handle, produce, wait for the acks, then commit.

A crash at any point replays from the last commit (at-least-once). A handler's RetryableError is
retried with bounded backoff, never dropped; a poison event is dead-lettered and the loop goes on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from services.common import metrics
from services.common.bus.deadletters import DeadLetters
from services.common.bus.errors import ContractError, DeliveryError, NotReadyError, RetryableError
from services.common.bus.events import BatchHandler, Event, Handler, Out
from services.common.bus.producer import EventProducer
from services.common.bus.readiness import describe_assignment, register
from services.common.codec import AvroCodec, CodecError, codec_for
from services.common.settings import CommonSettings
from services.common.topics import topic_spec

log = logging.getLogger("services.common.bus")  # one logger for the whole bus, so its records filter as one


def _offsets_after_stop(
    msgs: list[Message], unfinished: list[Event], real_topic: Callable[[str], str]
) -> list[TopicPartition]:
    """Offsets to commit when a stop interrupts a batch: up to the first unhandled event per partition.

    A partition is (topic, partition): with several inputs, A[0]@5 and B[0]@5 are different events.
    ``real_topic`` maps an event's logical topic to the Kafka topic its message came from.
    """
    next_offsets: dict[tuple[str, int], int] = {}
    for msg in msgs:
        if msg.error() is None:
            next_offsets[(msg.topic() or "", msg.partition() or 0)] = (msg.offset() or 0) + 1
    for event in unfinished:
        key = (real_topic(event.topic), event.partition)
        next_offsets[key] = min(next_offsets.get(key, event.offset), event.offset)
    return [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]


class _Stopping(Exception):
    """Internal: stop requested while retrying; commit what is done and leave."""

    def __init__(self, unfinished: list[Event] | None = None) -> None:
        super().__init__("stopping")
        self.unfinished = unfinished or []


class StreamProcessor:
    """Consume ``inputs``, hand each decoded event to the handler, produce its outputs, commit.

    ``handle`` takes one event; ``handle_batch`` (optional, preferred when given) takes the
    decoded events of one poll, e.g. to score them in one model call. When a batch handler raises,
    the batch is handled again event by event so only the poison event is dead-lettered.
    """

    def __init__(
        self,
        settings: CommonSettings,
        inputs: Sequence[str],
        group_id: str,
        handle: Handler | None = None,
        *,
        handle_batch: BatchHandler | None = None,
        codec: AvroCodec | None = None,
        producer: EventProducer | None = None,
        consumer_config: dict[str, Any] | None = None,
        max_retry_backoff_s: float = 10.0,
    ) -> None:
        if handle is None and handle_batch is None:
            raise ValueError("StreamProcessor needs handle or handle_batch")
        self.settings = settings
        self.inputs = list(inputs)
        self.group_id = group_id
        self.codec = codec or codec_for(Path(settings.schemas_dir))
        self.producer = producer or EventProducer(settings, self.codec)
        self._handle = handle
        self._handle_batch = handle_batch
        self._schemas = {t: topic_spec(settings, t).schema for t in self.inputs}
        self._max_backoff = max_retry_backoff_s
        self._service = settings.service_name
        self._want_paused = False
        self._paused_assignment: frozenset[tuple[str, int]] | None = None
        self._assignment: frozenset[tuple[str, int]] = frozenset()
        self._joined = threading.Event()  # set while the consumer holds partitions
        self._subscribed_at: float | None = None  # monotonic time of the subscription, None when not consuming
        self._assignment_received = False  # an assignment (maybe empty) arrived since the subscription or revocation
        self._held: frozenset[tuple[str, int]] = frozenset()  # partitions paused while a batch waits on retries
        conf: dict[str, Any] = {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": group_id,
            "client.id": f"{settings.service_name}-{group_id}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "statistics.interval.ms": 5000,
            "stats_cb": self._on_stats,
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1000,
        }
        conf.update(consumer_config or {})
        self._consumer_conf = conf
        self._consumer: Consumer | None = None
        self._logical: dict[str, str] = {}
        self._dead_letters = DeadLetters(settings, self.producer, group_id)
        self.processed = 0
        register(self)

    # ----------------------------------------------------------------- control
    @property
    def dead_lettered(self) -> int:
        """Inputs sent to ``deadletter`` so far."""
        return self._dead_letters.count

    @property
    def ready(self) -> bool:
        """True while the consumer holds partitions: it joined its group and its assignment is not empty."""
        return self._joined.is_set()

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        """Wait until the consumer holds partitions; False after ``timeout_s``."""
        return self._joined.wait(timeout_s)

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason) for /ready: a consumer without partitions would sit idle while reporting ready."""
        group = f"consumer group {self.group_id}"
        topics = ", ".join(self.settings.topic(t) for t in self.inputs)
        subscribed_at = self._subscribed_at
        if subscribed_at is None:
            return False, f"{group}: not consuming (yet) from {topics}"
        if self.ready:
            return True, f"{group}: holds {describe_assignment(self._assignment)}"
        if self._assignment_received:
            return False, f"{group}: joined with no partition of {topics} assigned (more consumers than partitions?)"
        waited = time.monotonic() - subscribed_at
        return False, f"{group}: waiting for a partition assignment of {topics} ({waited:.0f} s since subscribing)"

    def pause(self) -> None:
        """Stop consuming (quarantine) without leaving the group; takes effect at the next poll."""
        self._want_paused = True

    def resume(self) -> None:
        self._want_paused = False

    @property
    def paused(self) -> bool:
        return self._want_paused

    # ----------------------------------------------------------------- loop
    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; the batch in flight is finished and committed first."""
        consumer = Consumer(self._consumer_conf)
        self._consumer = consumer
        self._assignment_received = False
        self._subscribed_at = time.monotonic()
        consumer.subscribe(
            [self.settings.topic(t) for t in self.inputs],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not stop.is_set():
                self._apply_pause(consumer)
                msgs = consumer.consume(self.settings.batch_size, self.settings.poll_timeout_s)
                if not msgs:
                    continue
                started = time.perf_counter()
                unfinished: list[Event] | None = None
                try:
                    self._process(msgs, stop)
                except _Stopping as stopping:
                    log.info("stop requested during retries; committing what is done")
                    unfinished = stopping.unfinished
                self._deliver(stop)
                self._release()
                offsets = None if unfinished is None else _offsets_after_stop(msgs, unfinished, self.settings.topic)
                self._commit(consumer, offsets)
                metrics.BATCH_SIZE.labels(self._service).observe(len(msgs))
                metrics.HANDLER_SECONDS.labels(self._service).observe(time.perf_counter() - started)
        finally:
            try:
                self.producer.flush(self.settings.shutdown_timeout_s)
            except DeliveryError as exc:
                log.error("outputs not delivered at shutdown: %s", exc)
            consumer.close()
            self._consumer = None
            self._joined.clear()
            self._subscribed_at = None

    def _commit(self, consumer: Consumer, offsets: list[TopicPartition] | None) -> None:
        """Commit the positions (or ``offsets``); a commit the group refuses is not fatal.

        After a rebalance (another member took the partitions while a long outage lasted) the group
        refuses the commit: the new owner replays the batch from the last commit (at least once,
        deduplicated downstream by the events' derived ids), and this consumer carries on.
        """
        try:
            if offsets is None:
                consumer.commit(asynchronous=False)  # the positions: everything consumed is handled
            else:
                consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if getattr(err, "code", lambda: None)() == KafkaError._NO_OFFSET:
                return
            if getattr(err, "fatal", lambda: False)():
                raise
            metrics.RETRIES.labels(self._service, "commit").inc()
            log.warning("commit refused (%s); the batch will be replayed by the partitions' owner", exc)

    def _keep_alive(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` while staying in the group; True when a stop was asked for.

        A handler retrying through a long outage would otherwise not poll for longer than
        ``max.poll.interval.ms`` and be thrown out of its group (then its commit fails). So the
        assigned partitions are paused and the consumer keeps polling: no message comes, the group
        sees a live member. A partition assigned meanwhile (a rebalance) is paused too, and a message
        that slipped through is put back (seek) for after the outage.
        """
        consumer = self._consumer
        if consumer is None:
            return stop.wait(seconds)
        deadline = time.monotonic() + seconds
        while True:
            if stop.is_set():
                return True
            self._hold(consumer)
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            msg = consumer.poll(min(left, 1.0))
            if msg is not None and msg.error() is None:
                consumer.seek(TopicPartition(msg.topic() or "", msg.partition() or 0, msg.offset() or 0))

    def _hold(self, consumer: Consumer) -> None:
        new = self._assignment - self._held
        if new:
            consumer.pause([TopicPartition(t, p) for t, p in new])
            self._held = self._held | new

    def _release(self) -> None:
        """Resume what was held for retries (a quarantine keeps its own pause)."""
        consumer, held = self._consumer, self._held & self._assignment
        self._held = frozenset()
        if consumer is None or not held:
            return
        if self._want_paused:
            self._paused_assignment = None  # re-applied at the next poll
            return
        consumer.resume([TopicPartition(t, p) for t, p in held])

    def _deliver(self, stop: threading.Event) -> None:
        """Wait for the batch's outputs; retry forever (bounded backoff) rather than commit unsent work."""
        backoff = 0.5
        while True:
            try:
                self.producer.flush(60.0)
                return
            except DeliveryError as exc:
                # Uncommitted inputs are replayed after a restart, so leaving is safe; committing is not.
                if stop.is_set():
                    raise
                log.warning("Kafka did not acknowledge outputs, retrying in %.1f s: %s", backoff, exc)
                self._keep_alive(backoff, threading.Event())  # finish delivering even if a stop comes
                backoff = min(backoff * 2, self._max_backoff)

    def _process(self, msgs: list[Message], stop: threading.Event) -> None:
        decoded: list[tuple[Message, Event]] = []
        logical = self._logical
        decode = self.codec.decode
        schemas = self._schemas
        counts: dict[str, int] = {}
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise KafkaException(err)
                log.warning("consumer error on %s: %s", msg.topic(), err.str())
                continue
            real = msg.topic() or ""
            topic = logical.get(real) or logical.setdefault(real, self.settings.logical_topic(real))
            counts[topic] = counts.get(topic, 0) + 1
            raw = msg.value() or b""
            try:
                value = decode(raw, schemas[topic])
            except CodecError as exc:
                self._dead_letters.send(msg, "decode", str(exc))
                continue
            key = msg.key()
            decoded.append(
                (
                    msg,
                    Event(
                        topic,
                        msg.partition() or 0,
                        msg.offset() or 0,
                        key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
                        value,
                        raw,
                        msg.timestamp()[1],
                    ),
                )
            )
        for topic, count in counts.items():
            metrics.MESSAGES_IN.labels(self._service, topic).inc(count)
        if self._handle_batch is not None and decoded and self._try_batch(decoded, stop):
            return
        for i, (msg, event) in enumerate(decoded):
            try:
                self._handle_one(msg, event, stop)
            except _Stopping as stopping:
                raise _Stopping([e for _, e in decoded[i:]]) from stopping

    def _try_batch(self, decoded: list[tuple[Message, Event]], stop: threading.Event) -> bool:
        """Handle the whole batch at once; False means: fall back to one by one."""
        assert self._handle_batch is not None
        handle_batch = self._handle_batch
        events = [e for _, e in decoded]
        try:
            outs = self._with_retries(lambda: list(handle_batch(events)), events[0].topic, stop)
            encoded = [(o.topic, self.producer.encode(o.topic, o.value), o.key) for o in outs]
        except _Stopping as stopping:
            raise _Stopping(events) from stopping
        except Exception as exc:
            log.warning("batch of %d failed (%s: %s); handling one by one", len(events), type(exc).__name__, exc)
            return False
        for topic, data, key in encoded:
            self.producer.produce_raw(topic, data, key)
        self.processed += len(events)
        return True

    def _call_handler(self, event: Event) -> list[Out]:
        if self._handle is not None:
            return list(self._handle(event))
        assert self._handle_batch is not None
        return list(self._handle_batch([event]))

    def _handle_one(self, msg: Message, event: Event, stop: threading.Event) -> None:
        encode = self.producer.encode
        try:
            try:
                outs = self._call_handler(event)
            except RetryableError:
                outs = self._with_retries(lambda: self._call_handler(event), event.topic, stop)
            encoded = [(o.topic, encode(o.topic, o.value), o.key) for o in outs]
        except _Stopping:
            raise
        except ContractError as exc:
            self._dead_letters.send(msg, "contract", str(exc))
            return
        except CodecError as exc:
            self._dead_letters.send(msg, "handler", f"handler produced an invalid event: {exc}")
            return
        except Exception as exc:
            log.warning(
                "handler failed on %s[%d]@%d: %s: %s",
                event.topic,
                event.partition,
                event.offset,
                type(exc).__name__,
                exc,
                exc_info=True,
            )
            self._dead_letters.send(msg, "handler", f"{type(exc).__name__}: {exc}")
            return
        produce = self.producer.produce_raw
        for topic, data, key in encoded:
            produce(topic, data, key)
        self.processed += 1

    def _with_retries(self, call: Callable[[], list[Out]], topic: str, stop: threading.Event) -> list[Out]:
        backoff = 0.2
        while True:
            try:
                return call()
            except RetryableError as exc:
                metrics.RETRIES.labels(self._service, topic).inc()
                level = logging.INFO if isinstance(exc, NotReadyError) else logging.WARNING
                log.log(level, "retryable failure on %s, retrying in %.1f s: %s", topic, backoff, exc)
                if self._keep_alive(backoff, stop):
                    raise _Stopping() from exc
                backoff = min(backoff * 2, self._max_backoff)

    # ----------------------------------------------------------------- callbacks
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assignment = frozenset((p.topic, p.partition) for p in partitions)
        self._held = frozenset()  # a fresh assignment starts unpaused
        self._paused_assignment = None
        self._assignment_received = True
        if self._assignment:
            self._joined.set()
            log.info("partitions assigned: %s", sorted(self._assignment))
        else:
            self._joined.clear()
            log.warning(
                "group %s assigned no partition of %s; not ready until it gets some",
                self.group_id,
                ", ".join(self.settings.topic(t) for t in self.inputs),
            )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assignment = frozenset()
        self._held = frozenset()
        self._paused_assignment = None
        self._assignment_received = False
        self._joined.clear()
        log.info("partitions revoked: %d", len(partitions))

    def _apply_pause(self, consumer: Consumer) -> None:
        if self._want_paused and self._paused_assignment != self._assignment and self._assignment:
            consumer.pause([TopicPartition(t, p) for t, p in self._assignment])
            self._paused_assignment = self._assignment
            metrics.PAUSED.labels(self._service).set(1)
            log.warning("consumption paused (quarantine) on %d partitions", len(self._assignment))
        elif not self._want_paused and self._paused_assignment is not None:
            consumer.resume([TopicPartition(t, p) for t, p in self._paused_assignment])
            self._paused_assignment = None
            metrics.PAUSED.labels(self._service).set(0)
            log.info("consumption resumed")

    def _on_stats(self, stats_json: str) -> None:
        try:
            stats = json.loads(stats_json)
        except ValueError:
            return
        for topic, tstats in (stats.get("topics") or {}).items():
            logical = self.settings.logical_topic(topic)
            for part, pstats in (tstats.get("partitions") or {}).items():
                lag = pstats.get("consumer_lag", -1)
                if part != "-1" and isinstance(lag, int) and lag >= 0:
                    metrics.CONSUMER_LAG.labels(self._service, logical, part).set(lag)

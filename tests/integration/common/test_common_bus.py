"""The consume-process-produce loop over a real Kafka broker."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from kit.kafka import read_topic
from kit.records import interaction
from services.common.bus import ContractError, Event, EventProducer, Out, RetryableError, StreamProcessor
from services.common.http import create_app, serve_in_thread
from services.common.logs import KafkaLogHandler
from services.common.settings import CommonSettings


@pytest.fixture
def settings(make_settings: Callable[..., CommonSettings]) -> CommonSettings:
    """One service name for the loops under test, on this test's topics."""
    return make_settings(service_name="bus-test")


@contextmanager
def _running(processor: StreamProcessor) -> Iterator[threading.Thread]:
    """The processor's loop in a thread, ready, for the block; stopped and joined afterwards."""
    stop = threading.Event()
    thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert processor.wait_ready(30), "consumer did not join its group"
        yield thread
    finally:
        stop.set()
        thread.join(15)


def test_poison_messages_go_to_deadletter_and_processing_goes_on(settings: CommonSettings, group_id: str) -> None:
    producer = EventProducer(settings)
    good = [interaction(i) for i in range(6)]
    good[2]["region"] = "atlantis"  # breaks the handler's contract
    good[4]["region"] = "boom"  # makes the handler raise
    garbage = b"\x00this is not an avro event"
    producer.produce("interactions.raw", good[0], "k0")
    producer.produce("interactions.raw", good[1], "k0")
    producer.produce_raw("interactions.raw", garbage, "k0")
    for rec in good[2:]:
        producer.produce("interactions.raw", rec, "k0")  # one key: one partition, order kept
    producer.flush()

    def handle(event: Event) -> Iterable[Out]:
        if event.value["region"] == "atlantis":
            raise ContractError("region: 'atlantis' is not an allowed category")
        if event.value["region"] == "boom":
            raise ZeroDivisionError("division by zero")
        yield Out("interactions.valid", event.value, event.key)

    processor = StreamProcessor(settings, ["interactions.raw"], group_id, handle)
    with _running(processor):
        outputs = read_topic(settings, "interactions.valid", until=4)
        dead = read_topic(settings, "deadletter", until=3)
    assert sorted(o["event_id"] for o in outputs) == sorted(good[i]["event_id"] for i in (0, 1, 3, 5))
    by_kind = {d["error_type"]: d for d in dead}
    assert set(by_kind) == {"decode", "contract", "handler"}
    assert by_kind["decode"]["raw"] == garbage
    assert "not Avro single-object encoding" in by_kind["decode"]["error"]
    assert by_kind["contract"]["error"] == "region: 'atlantis' is not an allowed category"
    assert by_kind["handler"]["error"] == "ZeroDivisionError: division by zero"
    for d in dead:
        assert d["topic"] == "interactions.raw" and d["consumer_group"] == group_id
    assert processor.dead_lettered == 3 and processor.processed == 4


def test_retryable_errors_are_retried_not_dead_lettered(settings: CommonSettings, group_id: str) -> None:
    producer = EventProducer(settings)
    rec = interaction(1)
    producer.produce("interactions.raw", rec, "k")
    producer.flush()
    failures = {"left": 3}

    def handle(event: Event) -> Iterable[Out]:
        if failures["left"]:
            failures["left"] -= 1
            raise RetryableError("redis at 127.0.0.1:1 refused the connection")
        return [Out("interactions.valid", event.value, event.key)]

    processor = StreamProcessor(settings, ["interactions.raw"], group_id, handle)
    with _running(processor):
        outputs = read_topic(settings, "interactions.valid", until=1)
    assert [o["event_id"] for o in outputs] == [rec["event_id"]]
    assert failures["left"] == 0 and processor.dead_lettered == 0


def test_batch_handler_isolates_the_poison_event(settings: CommonSettings, group_id: str) -> None:
    producer = EventProducer(settings)
    recs = [interaction(i) for i in range(20)]
    recs[7]["salary_k"] = -1.0
    for rec in recs:
        producer.produce("interactions.raw", rec, "k")
    producer.flush()
    calls: list[int] = []

    def handle_batch(events: list[Event]) -> Iterable[Out]:
        calls.append(len(events))
        if any(e.value["salary_k"] < 0 for e in events):
            raise ValueError("negative salary in batch")
        return [Out("interactions.valid", e.value, e.key) for e in events]

    processor = StreamProcessor(settings, ["interactions.raw"], group_id, handle_batch=handle_batch)
    with _running(processor):
        outputs = read_topic(settings, "interactions.valid", until=19)
        dead = read_topic(settings, "deadletter", until=1)
    assert len(outputs) == 19 and recs[7]["event_id"] not in {o["event_id"] for o in outputs}
    assert [d["error"] for d in dead] == ["ValueError: negative salary in batch"]
    assert max(calls) > 1, "events were never handled as a batch"


def test_pause_stops_consumption_until_resume(settings: CommonSettings, group_id: str) -> None:
    producer = EventProducer(settings)
    seen: list[str] = []

    def handle(event: Event) -> Iterable[Out]:
        seen.append(event.value["event_id"])
        return []

    processor = StreamProcessor(settings, ["interactions.raw"], group_id, handle)
    with _running(processor):
        processor.pause()
        threading.Event().wait(1.0)
        for i in range(5):
            producer.produce("interactions.raw", interaction(i), f"k{i}")
        producer.flush()
        threading.Event().wait(2.0)
        assert seen == [], "events were consumed while paused"
        processor.resume()
        for _ in range(100):
            if len(seen) == 5:
                break
            threading.Event().wait(0.1)
    assert len(seen) == 5


def test_warnings_are_published_to_the_logs_topic(make_settings: Callable[..., CommonSettings]) -> None:
    settings = make_settings(service_name="inference", log_to_kafka=True)
    handler = KafkaLogHandler(settings)
    logger = logging.getLogger("tests.kafka-logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.info("an info line is not published")
        logger.warning("redis at %s refused the connection", "127.0.0.1:6379")
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError:
            logger.exception("predict failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    records = read_topic(settings, "logs", until=2)
    assert [r["level"] for r in records] == ["WARNING", "ERROR"]
    assert records[0]["message"] == "redis at 127.0.0.1:6379 refused the connection"
    assert records[0]["service"] == "inference"
    assert records[1]["exc_type"] == "ConnectionRefusedError"
    assert "Connection refused" in (records[1]["traceback"] or "")


def test_http_app_serves_health_ready_and_metrics(make_settings: Callable[..., CommonSettings]) -> None:
    settings = make_settings(service_name="bus-test", http_port=0)
    state: dict[str, Any] = {"model": False}
    server = serve_in_thread(create_app(settings, {"kafka": lambda: True, "model": lambda: state["model"]}), settings)
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        not_ready = httpx.get(f"{base}/ready")
        assert not_ready.status_code == 503
        assert not_ready.json() == {
            "ready": False,
            "checks": {"kafka": True, "model": False},
            "reasons": {"kafka": "ok", "model": "not ready"},
        }
        state["model"] = True
        assert httpx.get(f"{base}/ready").status_code == 200
        metrics = httpx.get(f"{base}/metrics").text
        assert "aig_messages_in_total" in metrics and "aig_handler_seconds" in metrics
    finally:
        server.stop()


@pytest.mark.parametrize("bad", [{"event_id": "x"}, {**interaction(1), "hour_of_day": "noon"}])
def test_producer_refuses_records_that_break_the_schema(
    make_settings: Callable[..., CommonSettings], bad: dict[str, Any]
) -> None:
    from services.common.codec import CodecError

    producer = EventProducer(make_settings())
    with pytest.raises(CodecError, match="cannot encode Interaction"):
        producer.produce("interactions.raw", json.loads(json.dumps(bad)))


def test_stop_during_retries_commits_only_what_was_handled(settings: CommonSettings, group_id: str) -> None:
    from kit.kafka import committed_total

    producer = EventProducer(settings)
    recs = [interaction(i) for i in range(5)]
    for rec in recs[:3]:
        producer.produce("interactions.raw", rec, "k")
    producer.produce_raw("interactions.raw", b"garbage after the stuck event", "k")
    producer.produce("interactions.raw", recs[3], "k")
    producer.flush()
    stuck = recs[2]["event_id"]

    def handle(event: Event) -> Iterable[Out]:
        if event.value["event_id"] == stuck:
            raise RetryableError("postgres at 127.0.0.1:55432 is restarting")
        return [Out("interactions.valid", event.value, event.key)]

    processor = StreamProcessor(settings, ["interactions.raw"], group_id, handle, max_retry_backoff_s=0.2)
    with _running(processor) as thread:
        outputs = read_topic(settings, "interactions.valid", until=2)
        threading.Event().wait(1.0)
    assert not thread.is_alive()
    assert [o["event_id"] for o in outputs] == [recs[0]["event_id"], recs[1]["event_id"]]
    # Events 0 and 1 are committed; the stuck event (offset 2) and everything after it will be replayed.
    assert committed_total(settings, group_id, "interactions.raw") == 2


def test_a_message_near_the_size_limit_is_dead_lettered_truncated_and_the_next_one_handled(
    settings: CommonSettings, group_id: str
) -> None:
    """1,040,000 bytes: a dead letter carrying it whole would not fit in a Kafka message itself."""
    import hashlib

    from confluent_kafka import Producer

    from services.common.deadletter import MAX_RAW_BYTES

    huge = b"\x00" + bytes(range(256)) * (1_040_000 // 256) + b"\x01" * (1_040_000 % 256 - 1)
    assert len(huge) == 1_040_000
    big = Producer({"bootstrap.servers": settings.kafka_bootstrap, "message.max.bytes": 2_000_000})
    big.produce(settings.topic("interactions.raw"), huge, key=b"k")
    assert big.flush(30) == 0
    producer = EventProducer(settings)
    after = interaction(9)
    producer.produce("interactions.raw", after, "k")
    producer.flush()

    processor = StreamProcessor(
        settings, ["interactions.raw"], group_id, lambda e: [Out("interactions.valid", e.value)]
    )
    with _running(processor) as thread:
        outputs = read_topic(settings, "interactions.valid", until=1)
        dead = read_topic(settings, "deadletter", until=1)
    assert thread.is_alive() is False and [o["event_id"] for o in outputs] == [after["event_id"]]
    assert len(dead) == 1 and dead[0]["error_type"] == "decode"
    assert dead[0]["raw"] == huge[:MAX_RAW_BYTES] and dead[0]["raw_size"] == 1_040_000
    assert dead[0]["raw_sha256"] == hashlib.sha256(huge).hexdigest()

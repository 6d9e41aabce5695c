"""Bus benchmark: the StreamProcessor's pass-through (consume, decode, handle, encode, produce, wait for
delivery, commit) against a bare confluent-kafka pass-through of the same bytes, same broker, same run.

    python -m bench.common.bus_throughput [--events 200000] [--batch 500]

Needs Kafka on 127.0.0.1:9092 (infra/local/infra.sh up kafka). Prints events/s for both and the ratio.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, Producer

from kit.kafka import delete_topics_with_prefix
from kit.records import interaction
from services.common.bus import Event, EventProducer, Out, StreamProcessor
from services.common.settings import CommonSettings
from services.common.topics import ensure_topics


def fill(settings: CommonSettings, n: int) -> None:
    producer = EventProducer(settings)
    for i in range(n):
        rec = interaction(i, "bench")
        producer.produce("interactions.raw", rec, rec["member_id"])
        if i % 50_000 == 0:
            producer.poll(0)
    producer.flush()


def bare_passthrough(settings: CommonSettings, n: int, batch: int) -> float:
    """confluent-kafka alone: consume bytes, produce the same bytes, flush, commit per batch."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"bare-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "compression.type": "lz4",
        }
    )
    out_topic = settings.topic("interactions.valid") + ".bare"
    consumer.subscribe([settings.topic("interactions.raw")])
    done = 0
    start = None
    while done < n:
        msgs = consumer.consume(batch, 1.0)
        if not msgs:
            continue
        if start is None:
            start = time.perf_counter()
        for msg in msgs:
            producer.produce(out_topic, msg.value(), msg.key(), on_delivery=lambda err, m: None)
        producer.flush()
        consumer.commit(asynchronous=False)
        done += len(msgs)
    elapsed = time.perf_counter() - (start or time.perf_counter())
    consumer.close()
    return done / elapsed


def bus_passthrough(settings: CommonSettings, n: int) -> float:
    def handle(event: Event) -> Iterable[Out]:
        return (Out("interactions.valid", event.value, event.key),)

    processor = StreamProcessor(settings, ["interactions.raw"], f"bus-{uuid.uuid4().hex[:6]}", handle)
    stop = threading.Event()
    thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    thread.start()
    while processor.processed == 0:
        time.sleep(0.001)
    start = time.perf_counter()
    while processor.processed < n:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    stop.set()
    thread.join(30)
    return (n - 1) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()
    settings = CommonSettings(
        topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
        kafka_bootstrap=args.bootstrap,
        batch_size=args.batch,
        service_name="bench",
        log_to_kafka=False,
    )
    ensure_topics(settings)
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # not in its __all__

    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    bare_topic = settings.topic("interactions.valid") + ".bare"
    admin.create_topics([NewTopic(bare_topic, 3, 1)])[bare_topic].result()
    print(f"filling {args.events:,} Interaction events ...", flush=True)
    try:
        fill(settings, args.events)
        bare = bare_passthrough(settings, args.events, args.batch)
        bus = bus_passthrough(settings, args.events)
    finally:  # leave no benchmark topics behind on the broker
        delete_topics_with_prefix(args.bootstrap, settings.topic_prefix)
    print(f"bare confluent-kafka pass-through: {bare:>10,.0f} events/s")
    print(f"StreamProcessor pass-through:      {bus:>10,.0f} events/s (decode + encode + delivery wait + commit)")
    print(f"ratio bus/bare: {bus / bare:.2f} (goal >= 0.5)")


if __name__ == "__main__":
    main()

"""The Kafka side of ``loadgen run``: pace the generator with a token bucket, send, and delay the labels."""

from __future__ import annotations

import heapq
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from loadgen.faults.base import Fault
from loadgen.traffic import Emission, TokenBucket, TrafficGenerator

log = logging.getLogger(__name__)


@dataclass
class RunStats:
    sent: int = 0
    bad_bytes: int = 0
    labels_sent: int = 0
    labels_pending: int = 0
    applied: int = 0
    started: float = field(default_factory=time.monotonic)
    fault_notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        elapsed = max(1e-9, time.monotonic() - self.started)
        return {
            "sent": self.sent,
            "bad_bytes": self.bad_bytes,
            "labels_sent": self.labels_sent,
            "labels_pending": self.labels_pending,
            "apply_rate": round(self.applied / max(1, self.sent), 4),
            "elapsed_s": round(elapsed, 2),
            "rate": round(self.sent / elapsed, 1),
        }


class Sender:
    """Where emissions go; the Kafka implementation wraps services.common.bus.EventProducer."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer

    def interaction(self, em: Emission) -> None:
        key = em.event["member_id"]
        if em.raw is not None:
            self.producer.produce_raw("interactions.raw", em.raw, key)
        else:
            self.producer.produce("interactions.raw", em.event, key=key)

    def label(self, label: dict[str, Any]) -> None:
        self.producer.produce("labels", label, key=label["interaction_id"])

    def queued(self) -> int:
        return len(self.producer)

    def poll(self) -> None:
        self.producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        self.producer.flush(timeout_s)


def install_stop(stop: threading.Event) -> None:
    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():  # second Ctrl-C: leave now
            raise KeyboardInterrupt
        print(f"\nloadgen: {signal.Signals(signum).name}, stopping (flushing)...", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def run_traffic(
    gen: TrafficGenerator,
    sender: Sender,
    *,
    rate: float,
    duration_s: float,
    stop: threading.Event,
    max_events: int | None = None,
    batch: int = 1000,
    progress: TextIO | None = sys.stderr,
    now_ms: Any = None,
) -> RunStats:
    """Send ``rate`` interactions per second for ``duration_s`` seconds (or until ``stop``), then the labels."""
    from services.common.events import now_ms as wall_ms

    clock_ms = now_ms or wall_ms
    stats = RunStats()
    start = time.monotonic()
    bucket = TokenBucket(rate, burst=max(1.0, rate * 0.25), now=start)
    labels: list[tuple[float, int, Emission]] = []
    infra_faults: list[Fault] = [f for f in gen.faults if f.kind == "infra"]
    next_progress = start + 1.0
    counter = 0
    last_sent, last_t = 0, start
    while not stop.is_set():
        now = time.monotonic()
        elapsed = now - start
        if elapsed >= duration_s or (max_events is not None and counter >= max_events):
            break
        room = batch if max_events is None else min(batch, max_events - counter)
        n = bucket.take(now, room)
        ts = clock_ms()
        for _ in range(n):
            em = gen.next(counter, counter / rate, ts)
            counter += 1
            sender.interaction(em)
            stats.sent += 1
            stats.bad_bytes += em.raw is not None
            stats.applied += em.applied
            heapq.heappush(labels, (now + em.label_delay_s, em.counter, em))
        while labels and labels[0][0] <= now:
            _, _, em = heapq.heappop(labels)
            sender.label(em.label(clock_ms()))
            stats.labels_sent += 1
        for f in infra_faults:
            if not f.triggered and f.active(counter / rate):
                f.triggered = True
                threading.Thread(target=_trigger, args=(f, stats), name=f"fault-{f.name}", daemon=True).start()
        sender.poll()
        if progress is not None and now >= next_progress:
            stats.labels_pending = len(labels)
            achieved = (stats.sent - last_sent) / max(1e-9, now - last_t)
            behind = max(0, int(elapsed * rate) - stats.sent)
            active = ",".join(f.name for f in gen.faults if f.active(counter / rate)) or "-"
            print(
                f"[{elapsed:6.1f}s] rate {achieved:8.1f}/s  sent {stats.sent:>9}  labels {stats.labels_sent:>9} "
                f"(pending {len(labels)})  queue {sender.queued():>6}  behind {behind:>6}  faults {active}",
                file=progress,
                flush=True,
            )
            last_sent, last_t = stats.sent, now
            next_progress += 1.0
        if n == 0:
            wait = bucket.wait_s()
            if labels:
                wait = min(wait, max(0.0, labels[0][0] - now))
            stop.wait(min(0.05, max(0.0005, wait)))
    # Every interaction sent gets its outcome, even on Ctrl-C: the stream of labels stays complete.
    while labels:
        _, _, em = heapq.heappop(labels)
        sender.label(em.label(clock_ms()))
        stats.labels_sent += 1
    stats.labels_pending = 0
    sender.flush(60.0)
    return stats


def _trigger(fault: Fault, stats: RunStats) -> None:
    try:
        note = fault.trigger()
    except Exception as exc:
        note = f"{fault.name} failed: {type(exc).__name__}: {exc}"
    stats.fault_notes.append(note)
    print(f"loadgen: fault {fault.name}: {note}", file=sys.stderr, flush=True)

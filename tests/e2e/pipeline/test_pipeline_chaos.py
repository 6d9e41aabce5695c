"""The monitored pipeline under faults: zero loss, with accounting.

The four services run as real processes on their own topics, PostgreSQL schema and ports, under steady
loadgen traffic with a small share of contract-breaking events. In turn, with the traffic flowing, each
service is SIGKILLed mid-stream and started again, the Kafka broker is restarted, PostgreSQL is
restarted, and Redis is stopped for 30 s. After each fault the pipeline must catch up on its own.
At the end every interaction sent has exactly one outcome: a prediction (replays deduplicated by
interaction id) or a dead letter with its reason; none is missing and every outcome belongs to an
interaction that was sent.
"""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException

from kit import infra as local_infra
from kit.kafka import Decoder, avro_decoder, end_offsets, read_to_end
from kit.pipeline import SERVICES, Pipeline
from kit.wait import WaitTimeout, wait_until
from services.common.codec import CodecError
from services.ingest.contract import Contract

pytestmark = [pytest.mark.timeout(600)]

RATE = 100.0  # events/s: the 2-core machine keeps up with it and still catches up a backlog after a fault
TRAFFIC_S = 900.0  # longer than the faults take: the traffic is stopped (SIGTERM) once they are over
BREAK_SHARE = 0.03  # contract-breaking share of the traffic, for as long as it runs: they must be dead-lettered
# For the whole run, through every fault (a finite duration: "inf" gives schema_break its 20 s default).
BREAK_ARGS: tuple[str, ...] = ("--fault", "schema_break", "--fault-at", "1", "--fault-duration", str(TRAFFIC_S))
BREAK_ARGS += ("--fault-param", f"rate={BREAK_SHARE}")
REDIS_OUTAGE_S = 30.0
KEEPING_UP = int(RATE * 3)  # uncommitted input a stage may hold between its commits and still keep up
RESTART_S = 120.0  # a restarted feature worker may wait out the faust session timeout (60 s) of its killed self
CATCH_UP_S = 150.0
DRAIN_S = 120.0
OUTAGES: tuple[tuple[local_infra.Component, str, float], ...] = (  # what is stopped, and how long it stays down
    ("kafka", "Kafka broker restart", 0.0),
    ("postgres", "PostgreSQL restart", 0.0),
    ("redis", f"Redis down for {REDIS_OUTAGE_S:.0f} s", REDIS_OUTAGE_S),
)


@dataclass
class Watch:
    """Whether the pipeline keeps up with the traffic, from Kafka alone: every service alive, loadgen sending,
    new predictions since a mark, and each stage's uncommitted input small."""

    pipeline: Pipeline
    loadgen: subprocess.Popen[bytes]
    last_lag: dict[str, int] = field(default_factory=dict)

    @property
    def logs(self) -> str:
        """Where to read when the pipeline does not catch up."""
        return f"the service logs in {self.pipeline.work_dir} (ingest.log, feature.log, trainer.log, inference.log)"

    def predictions(self) -> int | None:
        """Predictions written so far (None while the broker does not answer)."""
        try:
            settings = self.pipeline.settings
            return sum(end_offsets(settings.kafka_bootstrap, settings.topic("predictions")).values())
        except KafkaException:
            return None

    def lag(self) -> dict[str, int] | None:
        """Uncommitted input per stage (None while the broker does not answer); kept for the failure message."""
        try:
            self.last_lag = self.pipeline.lag()
        except KafkaException:
            return None
        return self.last_lag

    def check_running(self) -> None:
        """Fail at once, with the reason, when a service or the traffic died."""
        self.pipeline.check_alive()
        if self.loadgen.poll() is not None:
            code, log = self.loadgen.returncode, self.pipeline.work_dir / "loadgen.log"
            raise RuntimeError(f"loadgen exited with {code}; read {log}")

    def caught_up(self, since: int) -> bool:
        """The probe: predictions flow again past ``since`` and no stage holds a backlog."""
        self.check_running()
        produced = self.predictions()
        lag = self.lag()
        return produced is not None and lag is not None and produced >= since + RATE and max(lag.values()) <= KEEPING_UP

    def mark(self, log: Path | str) -> int:
        """Predictions written so far, once the broker answers (it may still be starting)."""
        found = wait_until(lambda: (n,) if (n := self.predictions()) is not None else None, 60, "Kafka answers", log)
        return found[0]

    def wait_caught_up(self, what: str, log: Path | str, timeout_s: float = CATCH_UP_S) -> float:
        """Wait (bounded) until the pipeline keeps up again after ``what``; returns the seconds it took."""
        started = time.monotonic()
        since = self.mark(log)
        try:
            wait_until(lambda: self.caught_up(since), timeout_s, f"pipeline caught up after {what}", log, every_s=1.0)
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc} (and {self.logs}); uncommitted input per stage: {self.last_lag}") from None
        return time.monotonic() - started


def hold(watch: Watch, seconds: float) -> None:
    """An outage of a deliberate length, during which no service may die."""
    deadline = time.monotonic() + seconds
    watch.check_running()
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        watch.check_running()


def outage(watch: Watch, component: local_infra.Component, seconds: float) -> None:
    """``component`` stopped, kept down ``seconds`` (0: a restart) and started again."""
    with local_infra.stopped(component, watch.pipeline.settings):
        hold(watch, seconds)


def crash_and_restart(pipeline: Pipeline, name: str) -> None:
    """SIGKILL one service mid-stream and start it again, as a supervisor would."""
    code = pipeline.kill(name)
    assert code == -signal.SIGKILL, f"{name} exited with {code} instead of dying of SIGKILL"
    proc = pipeline.restart(name)
    try:
        pipeline.wait_up(RESTART_S, services=[name])
    except RuntimeError as exc:
        raise AssertionError(f"{name} did not come back after SIGKILL; read {proc.log}: {exc}") from None


def _interaction(raw: bytes, decode: Decoder) -> dict[str, Any]:
    """An interactions.raw message as loadgen meant it: Avro, or the JSON a schema break sends."""
    try:
        return dict(decode(raw))
    except CodecError:
        return dict(json.loads(raw))


def _interaction_of(dead: dict[str, Any], decoders: dict[str, Decoder]) -> str | None:
    """The interaction a dead letter is about, whichever input it was: an interaction (Avro or JSON, raw, valid
    or repartitioned by the feature worker), a feature vector or a label; None when it names none."""
    raw: bytes = dead["raw"]
    value: Any = None
    decode = decoders.get(dead["topic"])
    if decode is not None:
        try:
            value = decode(raw)
        except CodecError:
            value = None
    if value is None:
        try:
            value = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    ident = value.get("interaction_id") or value.get("event_id")
    return str(ident) if ident else None


def test_every_interaction_is_accounted_for_under_faults(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    boot = settings.kafka_bootstrap
    started = time.monotonic()
    pipeline.wait_up(timeout_s=90)
    print(f"\nservices up after {time.monotonic() - started:.1f} s", flush=True)

    loadgen = pipeline.loadgen(
        RATE,
        TRAFFIC_S,
        uuid.uuid4().hex[:8],
        extra=BREAK_ARGS,
    )
    watch = Watch(pipeline, loadgen)
    recovered: list[tuple[str, float]] = []

    def fault(what: str, log: Path | str, act: Callable[[], None]) -> None:
        at = time.monotonic()
        act()
        took = watch.wait_caught_up(what, log)
        total = time.monotonic() - at
        recovered.append((what, total))
        print(f"  {what}: caught up {took:.1f} s after the fault was over ({total:.1f} s in all)", flush=True)

    try:
        with local_infra.restored():
            trainer_log = pipeline.procs["trainer"].log
            wait_until(pipeline.model_version, 90, "inference serving the first model", trainer_log, every_s=0.5)
            watch.wait_caught_up("the first model", pipeline.procs["inference"].log)
            print(f"first model served, pipeline keeping up at +{time.monotonic() - started:.1f} s", flush=True)

            for name in SERVICES:
                fault(f"SIGKILL {name}", pipeline.procs[name].log, functools.partial(crash_and_restart, pipeline, name))
            for component, what, outage_s in OUTAGES:
                fault(what, local_infra.LOGS[component], functools.partial(outage, watch, component, outage_s))

        loadgen.send_signal(signal.SIGTERM)  # stop the traffic: loadgen sends the labels it owes and flushes
        out, _ = loadgen.communicate(timeout=90)
    finally:
        if loadgen.poll() is None:
            loadgen.kill()
            loadgen.wait(10)
    assert loadgen.returncode == 0, (pipeline.work_dir / "loadgen.log").read_text()[-2000:]
    stats = json.loads(out.decode().strip().splitlines()[-1])

    # Every stage has committed all its input: what it produced is in Kafka (the bus and faust commit after the acks).
    def drained() -> dict[str, int] | None:
        watch.pipeline.check_alive()
        lag = watch.lag()
        return lag if lag is not None and not any(lag.values()) else None

    try:
        wait_until(drained, DRAIN_S, "every stage committed all its input", watch.logs, every_s=1.0)
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc}; uncommitted input per stage: {watch.last_lag}") from None

    # What was sent, and which of it the contract accepts.
    decode_interaction = avro_decoder(settings, "interactions.raw")
    raw_messages = read_to_end(boot, settings.topic("interactions.raw"), lambda b: b)
    sent = [_interaction(v, decode_interaction) for v, _ in raw_messages]
    produced = {str(e["event_id"]) for e in sent}
    contract = Contract.load()
    broken = {str(e["event_id"]) for e in sent if not contract.check(e).ok}

    decode_prediction = avro_decoder(settings, "predictions")
    predictions = [v for v, _ in read_to_end(boot, settings.topic("predictions"), decode_prediction)]
    dead = [v for v, _ in read_to_end(boot, settings.topic("deadletter"), avro_decoder(settings, "deadletter"))]
    decoders = {
        "interactions.raw": decode_interaction,
        "interactions.valid": decode_interaction,
        "features": avro_decoder(settings, "features"),
        "labels": avro_decoder(settings, "labels"),
    }
    offline_group = pipeline.groups["offline"][0]
    side_dead = [d for d in dead if d["consumer_group"] == offline_group]  # training rows, not outcomes
    hot_dead = [d for d in dead if d["consumer_group"] != offline_group]

    prediction_ids: dict[str, set[str]] = {}
    for p in predictions:
        prediction_ids.setdefault(str(p["interaction_id"]), set()).add(str(p["event_id"]))
    predicted = set(prediction_ids)
    dead_counts = Counter(_interaction_of(d, decoders) for d in hot_dead)
    dead_lettered = {i for i in dead_counts if i is not None}
    missing = produced - predicted - dead_lettered
    both = predicted & dead_lettered
    unknown = (predicted | dead_lettered) - produced
    duplicate_predictions = len(predictions) - len(predicted)
    duplicate_dead = sum(n - 1 for i, n in dead_counts.items() if i is not None)

    print(f"faults and recovery: {', '.join(f'{what} {s:.0f} s' for what, s in recovered)}")
    print(
        f"CHAOS: produced {len(produced)} interactions ({len(broken)} contract-breaking) in {stats['elapsed_s']} s "
        f"at {stats['rate']}/s; predicted {len(predicted)}, dead-lettered {len(dead_lettered)}, "
        f"missing {len(missing)}; duplicated before dedupe: {duplicate_predictions} predictions, "
        f"{duplicate_dead} dead letters; both {len(both)}, unknown {len(unknown)}, "
        f"unreadable dead letters {dead_counts.get(None, 0)}, offline-sink dead letters {len(side_dead)}; "
        f"total runtime {time.monotonic() - started:.0f} s"
    )

    # What was sent is what loadgen counted, each once (the idempotent producer through a broker restart).
    assert len(sent) == stats["sent"] == len(produced), (len(sent), len(produced), stats)
    assert broken, "the schema_break fault broke no event"
    # Nothing lost, and each interaction has exactly one outcome.
    assert not missing, f"{len(missing)} interactions have no prediction and no dead letter: {sorted(missing)[:5]}"
    assert not both, f"{len(both)} interactions were both scored and dead-lettered, e.g. {sorted(both)[:5]}"
    # Every outcome belongs to an interaction that was sent, and every dead letter says why.
    assert not unknown, f"{len(unknown)} outcomes for interactions never sent, e.g. {sorted(unknown)[:5]}"
    assert None not in dead_counts, f"{dead_counts[None]} dead letters name no interaction"
    assert all(d["error"] and d["error_type"] for d in dead), "a dead letter without its reason"
    # The right outcome: a fault is retried, never turned into a dead letter; a broken event is never scored.
    assert dead_lettered == broken, (
        f"valid interactions dead-lettered: {len(dead_lettered - broken)} "
        f"({Counter(d['error_type'] for d in hot_dead)}); broken ones scored: {len(broken - dead_lettered)}"
    )
    assert not side_dead, f"the offline sink dead-lettered {len(side_dead)} rows: {side_dead[0]['error'][:300]}"
    # A replay repeats the same prediction (ids derive from the input), never a second, different one.
    assert all(len(ids) == 1 for ids in prediction_ids.values()), "an interaction got two different predictions"
    pipeline.check_alive()
    assert pipeline.model_version() is not None

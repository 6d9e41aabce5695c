"""The log-classifier on the real running pipeline: real services, real log records, real faults.

Each test starts an isolated Stack (own topics, PostgreSQL schema, Redis, ports moved off the
demo's), drives it with loadgen traffic and reads what the log-classifier publishes:

- Redis stopped under load: many warning lines, one dependency_unavailable incident per service.
- A corrupt live model artifact reloaded by inference: a model_error incident for inference.
- A healthy run with every stdout record (INFO included) classified: no incident at all.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import httpx
import pytest
import redis

from kit.kafka import committed_total, following
from kit.procs import terminate
from kit.wait import poll, wait_until
from loadgen.redis_server import private_redis
from loadgen.stack import Stack
from services.common.bus import EventProducer
from services.common.commands import sign_command
from services.common.connections import redis_client
from services.common.events import header
from services.common.settings import CommonSettings

pytestmark = pytest.mark.timeout(420)

PIPELINE_IN = ("ingest", "feature")
# Fast first model: about 10 s of labelled traffic at 100 ev/s.
TRAINER_ENV = {"AIG_MIN_ROWS": "600", "AIG_CHECK_INTERVAL_S": "2", "AIG_NUM_BOOST_ROUND": "60"}


# ----------------------------------------------------------------------------------------- helpers
@dataclass
class Feed:
    """`logs` and `incidents` of one stack, read live from Kafka in a thread (arrival times kept)."""

    stack: Stack
    logs: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    incidents: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    _reading: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def __enter__(self) -> Feed:
        topics = ("logs", "incidents")
        options: dict[str, Any] = {"group": "e2e-feed", "max_messages": 1000, "poll_s": 0.3}
        self._reading.enter_context(following(self.stack.settings, topics, self._add, **options))
        return self

    def __exit__(self, *exc: object) -> None:
        self._reading.close()

    def _add(self, topic: str, record: dict[str, Any], seen: float) -> None:
        (self.logs if topic == "logs" else self.incidents).append((seen, record))

    def lc_incidents(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Incidents raised by the log-classifier (drift and healer publish on the same topic)."""
        return [i for t, i in list(self.incidents) if t >= since and i["source"] == "logclassifier"]

    def wait(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Whether ``predicate`` came true within ``timeout_s`` (the caller says what a timeout means)."""
        return bool(poll(predicate, timeout_s, every_s=0.5))


def wait_ready(stack: Stack, service: str, timeout_s: float = 150.0) -> float:
    """Seconds until ``service`` answers /ready (the log-classifier loads its model first)."""
    started = time.monotonic()
    proc = stack.procs.get(service)
    wait_until(lambda: stack.ready(service), timeout_s, f"{service} ready", stack.log(service), proc, every_s=0.5)
    return time.monotonic() - started


def model_info(stack: Stack) -> dict[str, Any] | None:
    try:
        reply = httpx.get(f"{stack.url('inference')}/model", timeout=2.0)
    except httpx.HTTPError:
        return None
    return dict(reply.json()) if reply.status_code == 200 else None


def redis_keys(client: redis.Redis) -> int:
    return int(client.dbsize())  # type: ignore[arg-type]  # the sync client returns an int


def _ms(value: Any) -> int:
    """An Avro timestamp-millis as epoch ms (decoded as an aware datetime)."""
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)


def describe(incidents: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {i['fingerprint']} x{i['count']} target={i['target']}: {i['summary']}" for i in incidents)


# ----------------------------------------------------------------------------------------- 1. Redis down
def test_redis_outage_gives_one_dependency_incident_per_service() -> None:
    started = time.monotonic()
    loadgen = None
    with (
        private_redis() as (redis_url, redis_proc),
        Stack(
            purge_on_exit=True,
            name="lcredis",
            services=(*PIPELINE_IN, "trainer", "inference", "drift", "logclassifier"),
            redis_server=redis_url,
            port_offset=100,
            env=TRAINER_ENV,
        ) as stack,
        Feed(stack) as feed,
    ):
        try:
            print(
                f"\nstack up in {time.monotonic() - started:.1f} s; log-classifier ready after "
                f"{wait_ready(stack, 'logclassifier'):.1f} s more; dir {stack.dir}"
            )
            loadgen = stack.loadgen(rate=100, duration=240)
            client = redis_client(CommonSettings(), redis_url, socket_timeout=2)
            # Traffic flows through to Redis: online feature hashes and the drift label join.
            assert feed.wait(lambda: model_info(stack) is not None and redis_keys(client) > 100, 120), (
                f"no model or no Redis writes; logs in {stack.dir}"
            )
            time.sleep(5)
            before = feed.lc_incidents()
            print(
                f"traffic flowing after {time.monotonic() - started:.1f} s: {redis_keys(client)} Redis keys, "
                f"{len(feed.logs)} log records, {len(before)} log-classifier incidents before the outage"
            )

            redis_proc.send_signal(signal.SIGTERM)
            redis_proc.wait(10)
            stopped_at = time.monotonic()
            logs_before = len(feed.logs)

            def redis_incidents() -> list[dict[str, Any]]:
                return [i for i in feed.lc_incidents(stopped_at) if i["root_cause"] == "dependency_unavailable"]

            # Feature writes Redis per event and drift joins labels in Redis: both must report it.
            assert feed.wait(lambda: {"feature", "drift"} <= {i["service"] for i in redis_incidents()}, 90), (
                f"incidents after the outage:\n{describe(feed.lc_incidents(stopped_at))}\nlogs in {stack.dir}"
            )
            detected_s = time.monotonic() - stopped_at
            # The failures go on: keep reading to catch any duplicate within the burst window.
            time.sleep(30)
            incidents = feed.lc_incidents(stopped_at)
            outage_logs = [r for t, r in feed.logs[logs_before:] if t >= stopped_at]
        finally:
            if loadgen is not None:
                terminate(loadgen)

    per_service = Counter(r["service"] for r in outage_logs)
    # Lines about the stopped server: redis-py names its address, asyncio its (host, port) pair.
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    about_redis = re.compile(rf"redis|127\.0\.0\.1:{port}\b|'127\.0\.0\.1', {port}\)", re.I)
    redis_lines = Counter(r["service"] for r in outage_logs if about_redis.search(r["message"]))
    ids_per_fingerprint: dict[str, set[str]] = {}
    for i in incidents:
        ids_per_fingerprint.setdefault(i["fingerprint"], set()).add(i["incident_id"])
    fingerprints = Counter({fp: len(ids) for fp, ids in ids_per_fingerprint.items()})
    print(
        f"outage: incidents for feature and drift after {detected_s:.1f} s; in {time.monotonic() - stopped_at:.0f}"
        f" s {len(outage_logs)} log records {dict(per_service)}, {dict(redis_lines)} naming Redis; "
        f"{len(incidents)} log-classifier incidents:\n{describe(incidents)}"
    )
    print(f"test took {time.monotonic() - started:.1f} s")

    assert before == [], f"incidents before the outage:\n{describe(before)}"
    assert incidents, "no incident"
    for inc in incidents:
        assert inc["root_cause"] == "dependency_unavailable", describe([inc])
        assert inc["type"] == "log_error"
        assert inc["target"] == "redis" and "redis" in inc["summary"].lower(), describe([inc])
        assert inc["fingerprint"] == f"log_error:{inc['service']}:dependency_unavailable"
        assert "Redis looks unavailable" in inc["explanation"]
        assert inc["service"] in inc["summary"] and inc["service"] in inc["explanation"]
    assert all(n == 1 for n in fingerprints.values()), f"duplicate incidents: {dict(fingerprints)}"
    # While the outage lasts each incident is updated (same id, growing count), at most every 10 s.
    for fp in ids_per_fingerprint:
        reports = sorted((i for i in incidents if i["fingerprint"] == fp), key=lambda i: _ms(i["last_seen"]))
        assert [r["count"] for r in reports] == sorted(r["count"] for r in reports), describe(reports)
        gaps = [_ms(b["last_seen"]) - _ms(a["last_seen"]) for a, b in pairwise(reports)]
        assert all(g >= 9_000 for g in gaps), (fp, gaps)
    assert {"feature", "drift"} <= {i["service"] for i in incidents}
    # One incident stands for many lines: every affected service warned far more often than it was reported.
    for inc in incidents:
        assert redis_lines[inc["service"]] >= 5 * fingerprints[inc["fingerprint"]], (inc["service"], redis_lines)
        assert inc["count"] >= 5
    assert sum(redis_lines.values()) >= 20 * len(incidents), redis_lines


# ----------------------------------------------------------------------------------------- 2. corrupt model
def test_corrupt_model_artifact_gives_model_error() -> None:
    started = time.monotonic()
    loadgen = None
    with (
        Stack(
            purge_on_exit=True,
            name="lcmodel",
            services=(*PIPELINE_IN, "trainer", "inference", "logclassifier"),
            port_offset=110,
            env=TRAINER_ENV,
        ) as stack,
        Feed(stack) as feed,
    ):
        try:
            ready_s = wait_ready(stack, "logclassifier")
            loadgen = stack.loadgen(rate=100, duration=240)
            assert feed.wait(lambda: model_info(stack) is not None, 120), f"no first model; logs in {stack.dir}"
            live = model_info(stack)
            assert live is not None
            print(
                f"\nlog-classifier ready after {ready_s:.1f} s; model v{live['version']} live after "
                f"{time.monotonic() - started:.1f} s"
            )
            model_dir = stack.dir / "models" / live["name"] / f"v{live['version']}"
            booster = model_dir / "model.txt"
            assert booster.exists(), sorted(p.name for p in model_dir.parent.rglob("*"))
            # Corrupt the live artifact in place (a bad disk, a half-copied volume).
            text = booster.read_text()
            booster.write_text(text[: len(text) // 2] + "\n\x00garbage\x00\n")
            corrupted_at = time.monotonic()
            producer = EventProducer(stack.settings)
            producer.produce(
                "commands",
                sign_command(
                    {
                        **header("operator"),
                        "command": "reload",
                        "target": "inference",
                        "reason": "e2e: reload after artifact change",
                        "incident_id": None,
                        "params": {},
                    },
                    stack.settings,
                    "operator",
                ),
                key="inference",
            )
            producer.flush()

            def model_errors() -> list[dict[str, Any]]:
                return [
                    i
                    for i in feed.lc_incidents(corrupted_at)
                    if i["service"] == "inference" and "model_error" in (i["type"], i["root_cause"])
                ]

            found = feed.wait(lambda: bool(model_errors()), 60)
            detected_s = time.monotonic() - corrupted_at
            time.sleep(3)
            inference_logs = [r for t, r in feed.logs if t >= corrupted_at and r["service"] == "inference"]
            incidents = feed.lc_incidents()
            still_serving = model_info(stack)
        finally:
            if loadgen is not None:
                terminate(loadgen)

    print(
        f"after the reload: {len(inference_logs)} inference log records:\n"
        + "\n".join(f"  {r['level']} {r['message'][:200]}" for r in inference_logs[:10])
        + f"\nlog-classifier incidents ({detected_s:.1f} s after the corruption):\n{describe(incidents)}"
    )
    print(f"test took {time.monotonic() - started:.1f} s")
    assert any("model" in r["message"] and r["level"] in ("ERROR", "CRITICAL") for r in inference_logs), (
        "inference did not log the load failure"
    )
    assert found, f"no model_error incident for inference:\n{describe(incidents)}"
    errors = model_errors()
    assert len(errors) == 1, describe(errors)
    inc = errors[0]
    assert inc["type"] == "model_error" and inc["root_cause"] == "model_error", describe([inc])
    assert inc["fingerprint"] == "model_error:inference:model_error" and inc["severity"] == "critical"
    assert "roll back" in inc["explanation"]
    assert still_serving is not None and still_serving["version"] == live["version"], "inference stopped serving"
    assert [i for i in incidents if i not in errors] == [], f"other incidents:\n{describe(incidents)}"


# ----------------------------------------------------------------------------------------- 3. healthy
_FAUST_LINE = re.compile(r"^\[(?P<ts>[^\]]+)\] \[\d+\] \[(?P<level>[A-Z]+)\] (?P<msg>.*)$")


@dataclass
class StdoutShipper:
    """Follows every service's stdout file and publishes each record to `logs` as a LogRecord.

    The services publish their WARN+ records themselves; this ships the rest (INFO, DEBUG and the
    non-JSON lines of third-party libraries) so the log-classifier sees every line the run wrote.
    """

    stack: Stack
    services: tuple[str, ...]
    shipped: Counter[str] = field(default_factory=Counter)
    by_level: Counter[str] = field(default_factory=Counter)
    own_warn: Counter[str] = field(default_factory=Counter)  # WARN+ lines the services published themselves
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        producer = EventProducer(self.stack.settings)
        offsets = dict.fromkeys(self.services, 0)
        while True:
            final = self.stop.is_set()
            for service in self.services:
                path = self.stack.dir / f"{service}.log"
                if not path.exists():
                    continue
                with open(path, "rb") as fh:
                    fh.seek(offsets[service])
                    data = fh.read()
                end = data.rfind(b"\n") + 1
                offsets[service] += end
                for raw in data[:end].decode("utf-8", "replace").splitlines():
                    self._ship(producer, service, raw)
            producer.flush()
            if final:
                return
            self.stop.wait(0.5)

    def _ship(self, producer: EventProducer, service: str, raw: str) -> None:
        if not raw.strip():
            return
        level, message, logger, tb = "INFO", raw, "stdout", None
        try:
            doc = json.loads(raw)
            if isinstance(doc, dict) and "msg" in doc:
                level, message = str(doc.get("level", "INFO")), str(doc["msg"])
                logger, tb = str(doc.get("logger", logger)), doc.get("exc")
        except ValueError:
            m = _FAUST_LINE.match(raw)
            if m:
                level, message, logger = m["level"], m["msg"], "faust"
        if level in ("WARNING", "ERROR", "CRITICAL") and logger != "faust":
            self.own_warn[service] += 1
            return
        self.shipped[service] += 1
        self.by_level[level] += 1
        producer.produce(
            "logs",
            {
                **header(service),
                "service": service,
                "level": level,
                "logger": logger,
                "message": message,
                "exc_type": None,
                "traceback": tb,
                "host": "127.0.0.1",
                "container": None,
            },
            key=service,
        )


def test_healthy_run_gives_no_incident() -> None:
    started = time.monotonic()
    services = ("ingest", "feature", "trainer", "inference", "drift", "logclassifier", "healer")
    loadgen = None
    # Every record is classified, INFO included: the log-classifier takes all levels in this run.
    with (
        Stack(
            purge_on_exit=True,
            name="lchealthy",
            services=services,
            port_offset=120,
            env={**TRAINER_ENV, "AIG_MIN_LEVEL": "DEBUG"},
        ) as stack,
        Feed(stack) as feed,
    ):
        shipper = StdoutShipper(stack, tuple(s for s in services if s != "logclassifier"))
        thread = threading.Thread(target=shipper.run, name="shipper", daemon=True)
        thread.start()
        try:
            ready_s = wait_ready(stack, "logclassifier")
            traffic_started = time.monotonic()
            loadgen = stack.loadgen(rate=80, duration=150)
            loadgen.wait(200)
            assert loadgen.returncode == 0, (stack.dir / "loadgen.log").read_text()[-2000:]
            traffic_s = time.monotonic() - traffic_started
            time.sleep(5)
            shipper.stop.set()
            thread.join(30)
            # Every record shipped and published has reached the log-classifier when `logs` goes quiet.
            expected = sum(shipper.shipped.values()) + sum(shipper.own_warn.values())
            feed.wait(lambda: len(feed.logs) >= expected, 30)
            group = stack.settings.topic("logclassifier")
            total = len(feed.logs)
            assert feed.wait(lambda: committed_total(stack.settings, group, "logs") >= total, 60), (
                f"the log-classifier did not consume `logs`: {committed_total(stack.settings, group, 'logs')}"
                f" of {total}"
            )
            alive = {s: p.poll() is None for s, p in stack.procs.items()}
            model = model_info(stack)
            incidents = feed.lc_incidents()
            others = [i for _, i in feed.incidents if i["source"] != "logclassifier"]
            logs = [r for _, r in feed.logs]
        finally:
            if loadgen is not None:
                terminate(loadgen)
            shipper.stop.set()

    levels = Counter(r["level"] for r in logs)
    print(
        f"\nlog-classifier ready after {ready_s:.1f} s; {traffic_s:.0f} s of traffic at 80 ev/s; model "
        f"{model and model['version']}; {len(logs)} log records on `logs` {dict(levels)} "
        f"(shipped from stdout {dict(shipper.shipped)}, published by the services "
        f"{dict(Counter(r['service'] for r in logs if r['level'] in ('WARNING', 'ERROR', 'CRITICAL')))}); "
        f"log-classifier incidents {len(incidents)}:\n{describe(incidents)}\n"
        f"incidents from other sources {len(others)}:\n{describe(others)}"
    )
    print(f"test took {time.monotonic() - started:.1f} s")
    assert all(alive.values()), alive
    assert model is not None, "no model trained in the healthy run"
    # A healthy run is quiet: tens of lines, but from every service, and every one of them consumed.
    assert set(shipper.shipped) == set(services) - {"logclassifier"}, shipper.shipped
    # How many warnings a healthy run has is incidental (a timer overlap, an alert): every record counts above.
    assert levels["INFO"] >= 20, levels
    assert incidents == [], f"incidents in a healthy run:\n{describe(incidents)}"

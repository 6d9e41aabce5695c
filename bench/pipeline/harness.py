"""The monitored pipeline (ingest, feature, trainer, inference) as real processes, isolated per run.

Used by the end-to-end test and the capacity benchmark. One :class:`Pipeline` owns a topic prefix,
a PostgreSQL schema, a temp directory (artifacts, faust tables, logs) and free HTTP ports, so it
never touches another run's data or the default ports 8001-8007. :meth:`Pipeline.stop` always
ends every process it started (SIGTERM, then SIGKILL) and drops the schema.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from loadgen.procs import free_port
from services.common.codec import CodecError, codec_for
from services.common.db import migrate
from services.common.settings import REPO_ROOT, CommonSettings
from services.common.topics import ensure_topics, topic_spec

SERVICES = ("ingest", "feature", "trainer", "inference")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    @property
    def pid(self) -> int:
        return int(self.popen.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)


@dataclass
class Pipeline:
    """Four services on their own topics, schema and ports. Use as a context manager."""

    work_dir: Path
    base_dsn: str = CommonSettings().postgres_dsn
    prefix: str = field(default_factory=lambda: f"p{uuid.uuid4().hex[:10]}.")
    env: Mapping[str, str] = field(default_factory=dict)  # extra AIG_* settings for every service
    service_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    schema: str = ""

    def __post_init__(self) -> None:
        self.schema = f"e2e_{self.prefix.strip('.').replace('-', '_')}"
        self.settings = CommonSettings(topic_prefix=self.prefix, log_to_kafka=False)

    @property
    def dsn(self) -> str:
        sep = "&" if "?" in self.base_dsn else "?"
        return f"{self.base_dsn}{sep}options=-csearch_path%3D{self.schema}"

    @property
    def feature_app_id(self) -> str:
        return f"{self.prefix}aig-feature"

    @property
    def groups(self) -> dict[str, tuple[str, list[str]]]:
        """Consumer group and real input topics of each hot-path stage (for lag)."""
        t = self.settings.topic
        return {
            "ingest": (f"{self.prefix}ingest", [t("interactions.raw")]),
            "feature": (self.feature_app_id, [t("interactions.valid"), f"{self.feature_app_id}-by-job"]),
            "inference": (f"{self.prefix}inference", [t("features")]),
            "offline": (f"{self.prefix}feature-offline", [t("features"), t("labels")]),
        }

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def prepare(self) -> None:
        """Topics, the PostgreSQL schema with every migration, the directories."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        ensure_topics(self.settings)
        with psycopg.connect(self.base_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
        migrate(self.dsn)

    def start(self, services: Iterable[str] = SERVICES) -> None:
        self.prepare()
        for name in services:
            self.procs[name] = self._launch(name)

    def _launch(self, service: str) -> Proc:
        port = free_port()
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "AIG_TOPIC_PREFIX": self.prefix,
            "AIG_POSTGRES_DSN": self.dsn,
            "AIG_LOG_TO_KAFKA": "false",
            "AIG_HTTP_PORT": str(port),
            "AIG_ARTIFACT_DIR": str(self.work_dir / "models"),
            "AIG_DATA_DIR": str(self.work_dir / "faust"),
            "AIG_WEB_PORT": "0",
            "AIG_REDIS_KEY_PREFIX": f"{self.prefix}features:",
            **({"AIG_GROUP_ID": f"{self.prefix}ingest"} if service == "ingest" else {}),
            **self.env,
            **self.service_env.get(service, {}),
        }
        log = self.work_dir / f"{service}.log"
        popen = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return Proc(service, popen, log, port)

    def wait_up(self, timeout_s: float = 90.0) -> None:
        """Every service answers HTTP: /ready where it needs no model, /health for inference."""
        paths = {"ingest": "/ready", "feature": "/ready", "trainer": "/ready", "inference": "/health"}
        deadline = time.monotonic() + timeout_s
        for name, proc in self.procs.items():
            url = f"http://127.0.0.1:{proc.port}{paths.get(name, '/health')}"
            last: object = None
            while True:
                if not proc.alive():
                    raise RuntimeError(f"{name} exited with {proc.popen.returncode}:\n{proc.tail()}")
                try:
                    last = httpx.get(url, timeout=2).status_code
                    if last == 200:
                        break
                except httpx.HTTPError as exc:
                    last = exc
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not up at {url} after {timeout_s:.0f} s ({last}):\n{proc.tail()}")
                time.sleep(0.3)

    def model_version(self) -> int | None:
        """The version inference serves, or None before the first model."""
        proc = self.procs.get("inference")
        if proc is None:
            return None
        try:
            r = httpx.get(f"http://127.0.0.1:{proc.port}/model", timeout=2)
        except httpx.HTTPError:
            return None
        return int(r.json()["version"]) if r.status_code == 200 else None

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if not proc.alive():
                raise RuntimeError(f"{name} exited with {proc.popen.returncode}:\n{proc.tail()}")

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(p.pid) for name, p in self.procs.items()}

    def stop(self) -> dict[str, int | None]:
        """Stop every service (in parallel: SIGTERM first, then SIGKILL) and drop the schema."""
        codes: dict[str, int | None] = {}
        for proc in self.procs.values():
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 25
        for name, proc in self.procs.items():
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(10)
            codes[name] = proc.popen.returncode
        self.procs.clear()
        self.delete_topics()
        if self.schema:
            try:
                with psycopg.connect(self.base_dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            except psycopg.Error:
                pass
        return codes

    def delete_topics(self) -> None:
        """Delete every topic of this run (catalogue, faust internals, changelogs): the broker stays small."""
        admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap})
        with contextlib.suppress(KafkaException):
            mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(self.prefix)]
            for future in (admin.delete_topics(mine, operation_timeout=30) if mine else {}).values():
                with contextlib.suppress(KafkaException):
                    future.result()

    # ------------------------------------------------------------------ loadgen
    def loadgen(
        self, rate: float, duration_s: float, run_id: str, *, extra: Iterable[str] = (), log_name: str = "loadgen.log"
    ) -> subprocess.Popen[bytes]:
        """Start ``loadgen run`` on this pipeline's topics; its last stdout line is its JSON summary."""
        args = [
            sys.executable,
            "-m",
            "loadgen",
            "run",
            "--rate",
            f"{rate:g}",
            "--duration",
            f"{duration_s:g}",
            "--run-id",
            run_id,
            "--topic-prefix",
            self.prefix,
            "--quiet",
            *extra,
        ]
        return subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=(self.work_dir / log_name).open("ab"),
            start_new_session=True,
        )

    # ------------------------------------------------------------------ Kafka views
    def lag(self) -> dict[str, int]:
        """Messages not yet committed by each stage's consumer group."""
        out: dict[str, int] = {}
        for stage, (group, topics) in self.groups.items():
            out[stage] = group_lag(self.settings.kafka_bootstrap, group, topics)
        return out


def _partitions(consumer: Consumer, topic: str) -> list[TopicPartition]:
    meta = consumer.list_topics(topic, timeout=10)
    tmeta = meta.topics.get(topic)
    if tmeta is None or tmeta.error is not None:
        return []
    return [TopicPartition(topic, p) for p in tmeta.partitions]


def group_lag(bootstrap: str, group: str, topics: Iterable[str]) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        total = 0
        for topic in topics:
            parts = _partitions(consumer, topic)
            if not parts:
                continue
            for tp in consumer.committed(parts, timeout=10):
                _, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
                total += high - (tp.offset if tp.offset >= 0 else 0)
        return total
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"offsets-{uuid.uuid4().hex[:8]}"})
    try:
        return {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in _partitions(consumer, topic)}
    finally:
        consumer.close()


Decoder = Callable[[bytes], Any]


def avro_decoder(settings: CommonSettings, topic: str) -> Decoder:
    codec = codec_for(Path(settings.schemas_dir))
    schema = topic_spec(settings, topic).schema
    return lambda raw: codec.decode(raw, schema)


def read_range(
    bootstrap: str,
    topic: str,
    start: Mapping[int, int],
    end: Mapping[int, int],
    decode: Decoder,
    timeout_s: float = 60.0,
) -> list[tuple[Any, int]]:
    """Messages of ``topic`` from ``start`` to ``end`` offsets per partition: (decoded value, timestamp ms)."""
    todo = {p: (start.get(p, 0), e) for p, e in end.items() if e > start.get(p, 0)}
    if not todo:
        return []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 52_428_800,
        }
    )
    consumer.assign([TopicPartition(topic, p, s) for p, (s, _) in todo.items()])
    out: list[tuple[Any, int]] = []
    remaining = dict(todo)
    deadline = time.monotonic() + timeout_s
    try:
        while remaining and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 0.5):
                if msg.error() is not None:
                    continue
                p, off = msg.partition() or 0, msg.offset() or 0
                if p not in remaining or off >= remaining[p][1]:
                    continue
                try:
                    value = decode(msg.value() or b"")
                except (CodecError, ValueError):
                    value = None
                out.append((value, msg.timestamp()[1]))
                if off + 1 >= remaining[p][1]:
                    del remaining[p]
    finally:
        consumer.close()
    return out

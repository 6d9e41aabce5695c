"""The monitored pipeline (ingest, feature, trainer, inference) as real processes, isolated per run.

Used by the end-to-end test and the capacity benchmark. One :class:`Pipeline` owns a topic prefix,
a PostgreSQL schema, a temp directory (artifacts, faust tables, logs) and free HTTP ports, so it
never touches another run's data or the default ports 8001-8007. :meth:`Pipeline.stop` always
ends every process it started (SIGTERM, then SIGKILL) and drops the schema.

Unlike :class:`loadgen.stack.Stack` (the demo's whole system on fixed ports, Redis database and all),
it shares no Redis database and takes any free port: a benchmark may run next to a demo.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kit.kafka import delete_topics_with_prefix, group_lag
from kit.ports import free_port
from kit.postgres import create_schema, drop_schema, schema_dsn
from kit.procs import KILL_WAIT_S, Proc, cpu_seconds, start_module, terminate_all
from kit.traffic import loadgen_args
from kit.wait import WaitTimeout, http_ok, wait_until
from services.common.settings import REPO_ROOT, CommonSettings
from services.common.topics import ensure_topics

SERVICES = ("ingest", "feature", "trainer", "inference")


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
        return schema_dsn(self.base_dsn, self.schema)

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
        create_schema(self.base_dsn, self.schema)

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
        return Proc(service, start_module(f"services.{service}", env, log, new_session=True), log, port)

    def kill(self, service: str) -> int:
        """SIGKILL ``service`` and its process group (a crash: no batch finished, no offset committed);
        returns its exit code once it is gone."""
        proc = self.procs[service]
        if proc.alive():  # not reaped yet: the pid (and its group) is still this service's
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the group is the service and its children
        return proc.popen.wait(KILL_WAIT_S)

    def restart(self, service: str) -> Proc:
        """Start ``service`` again with the same settings, on a new HTTP port and appending to its log, as a
        supervisor would after a crash; one still running is stopped first (SIGTERM, then SIGKILL)."""
        old = self.procs.get(service)
        if old is not None and old.alive():
            old.stop()
        proc = self.procs[service] = self._launch(service)
        return proc

    def wait_up(self, timeout_s: float = 90.0, services: Iterable[str] | None = None) -> None:
        """Every service (or each of ``services``) answers HTTP: /ready where it needs no model, /health for
        inference."""
        paths = {"ingest": "/ready", "feature": "/ready", "trainer": "/ready", "inference": "/health"}
        deadline = time.monotonic() + timeout_s
        for name in list(self.procs if services is None else services):
            proc = self.procs[name]
            url = f"http://127.0.0.1:{proc.port}{paths.get(name, '/health')}"
            left = max(0.0, deadline - time.monotonic())
            up = functools.partial(http_ok, url, 2.0)
            try:
                wait_until(up, left, f"{name} up at {url}", proc.log, proc.popen, every_s=0.3)
            except WaitTimeout as exc:
                raise RuntimeError(f"{exc}:\n{proc.tail()}") from None

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

    def stop(self) -> dict[str, int]:
        """Stop every service (in parallel: SIGTERM first, then SIGKILL), delete the run's topics (the
        broker stays small) and drop the schema."""
        names = list(self.procs)
        codes = terminate_all((p.popen for p in self.procs.values()), 25.0)
        self.procs.clear()
        delete_topics_with_prefix(self.settings.kafka_bootstrap, self.prefix)
        if self.schema:
            drop_schema(self.base_dsn, self.schema)
        return dict(zip(names, codes, strict=True))

    # ------------------------------------------------------------------ loadgen
    def loadgen(
        self, rate: float, duration_s: float, run_id: str, *, extra: Iterable[str] = (), log_name: str = "loadgen.log"
    ) -> subprocess.Popen[bytes]:
        """Start ``loadgen run`` on this pipeline's topics; its last stdout line is its JSON summary."""
        extra = ["--topic-prefix", self.prefix, *extra]
        args = loadgen_args(rate=rate, duration=duration_s, run_id=run_id, extra=extra)
        with (self.work_dir / log_name).open("ab") as err:
            return subprocess.Popen(
                [sys.executable, "-m", "loadgen", *args],
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )

    # ------------------------------------------------------------------ Kafka views
    def lag(self) -> dict[str, int]:
        """Messages not yet committed by each stage's consumer group."""
        out: dict[str, int] = {}
        for stage, (group, topics) in self.groups.items():
            out[stage] = group_lag(self.settings.kafka_bootstrap, group, topics)
        return out

"""Start and stop the whole system on the local infrastructure, isolated per run.

Each run gets its own topic prefix, PostgreSQL schema, Redis database, artifact and state
directories, so a demo or an end-to-end test never sees another run's data. Services run as
processes; any of them can run in a real container instead (the local runtime image, host
networking, the host's interpreter and virtualenv mounted read-only) so the healer can restart
it through the Docker Engine API.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.kafka import delete_topics_with_prefix
from kit.postgres import create_schema, drop_schema, schema_dsn
from kit.procs import start_module, terminate
from kit.traffic import FaultAt, loadgen_args
from kit.wait import http_ok
from services.common.connections import redis_client
from services.common.containers import project_labels
from services.common.settings import REPO_ROOT, CommonSettings
from services.common.topics import ensure_topics

SERVICES: dict[str, int] = {
    "ingest": 8001,
    "feature": 8002,
    "trainer": 8003,
    "inference": 8004,
    "drift": 8005,
    "logclassifier": 8006,
    "healer": 8007,
}
RUNTIME_IMAGE = os.environ.get("AIG_RUNTIME_IMAGE", "aig-runtime:local")


class StackError(RuntimeError):
    """A service did not start or did not become healthy; the message names its log."""


@dataclass
class Stack:
    """One isolated run of the system. Use as a context manager: ``with Stack(...) as stack:``."""

    name: str = "stack"
    services: Sequence[str] = tuple(SERVICES)
    in_docker: Iterable[str] = ()
    port_offset: int = 0
    redis_db: int = 1
    redis_server: str | None = None  # another Redis URL (e.g. a server a test stops); default: local, db redis_db
    env: dict[str, str] = field(default_factory=dict)
    # Settings of one service only: several services share a field name (cooldown_s of the healer and
    # of the log-classifier), so a global variable meant for one would retune the other.
    service_envs: dict[str, dict[str, str]] = field(default_factory=dict)
    purge_on_exit: bool = False  # tests: delete the run's topics and schema when the ``with`` block ends
    run_id: str = field(default_factory=lambda: time.strftime("%m%d%H%M%S") + uuid.uuid4().hex[:4])

    def __post_init__(self) -> None:
        base = CommonSettings()
        self.prefix = f"{self.name}{self.run_id}."
        self.schema = f"{self.name}_{self.run_id}".lower()
        self.dir = REPO_ROOT / "var" / self.name / self.run_id
        self.project = f"aig-{self.name}-{self.run_id}".lower()
        self.base_dsn = base.postgres_dsn
        self.dsn = schema_dsn(base.postgres_dsn, self.schema)
        self.redis_url: str = self.redis_server or base.redis_url.rsplit("/", 1)[0] + f"/{self.redis_db}"
        self.kafka_bootstrap = base.kafka_bootstrap
        # Passwords and keys go to the services as settings (environment), never inside a URL.
        self._secrets = {
            f"AIG_{name.upper()}": value
            for name in ("redis_password", "postgres_password", "command_key", "operator_key")
            if (value := base.secret(name)) is not None
        }
        self.settings = CommonSettings(topic_prefix=self.prefix, log_to_kafka=False)
        self.docker_services = set(self.in_docker)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.containers: dict[str, Any] = {}
        self._docker: Any = None

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(purge=self.purge_on_exit)

    def port(self, service: str) -> int:
        return SERVICES[service] + self.port_offset

    def log(self, service: str) -> Path:
        """Where the output of ``service`` (or ``loadgen``) goes."""
        return self.dir / f"{service}.log"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    def service_env(self, service: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIG_")}
        env.update(
            {
                "AIG_TOPIC_PREFIX": self.prefix,
                "AIG_POSTGRES_DSN": self.dsn,
                "AIG_REDIS_URL": self.redis_url,
                **self._secrets,
                "AIG_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
                "AIG_HTTP_PORT": str(self.port(service)),
                "AIG_ARTIFACT_DIR": str(self.dir / "models"),
                "AIG_DATA_DIR": str(self.dir / "feature"),
                "AIG_APP_ID": f"aig-feature-{self.run_id}",
                "AIG_DRAIN_STATE_PATH": str(self.dir / "drain3_state.bin"),
                "AIG_COMPOSE_PROJECT": self.project,
                "AIG_LOG_TO_KAFKA": "true",
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env)
        env.update(self.service_envs.get(service, {}))
        if service == "healer":
            env.pop("AIG_OPERATOR_KEY", None)  # the guard signs with its own key; risky commands are a person's
        return env

    def start(self) -> None:
        """Topics, schema, a clean Redis database, then every service; returns when all are healthy."""
        self.dir.mkdir(parents=True, exist_ok=True)
        ensure_topics(self.settings)
        create_schema(self.base_dsn, self.schema)
        redis_client(self.settings, self.redis_url).flushdb()
        for service in self.services:
            self.start_service(service)
        self.wait_healthy()

    def check_port(self, service: str) -> None:
        """Fail early when the service's port is taken: a stranger's /health would pass for ours."""
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a past run's TIME_WAIT owns nothing
            try:
                s.bind(("127.0.0.1", self.port(service)))
            except OSError:
                raise StackError(
                    f"port {self.port(service)} of {service} is already in use: another run or test "
                    "holds it (move this run with a port offset)"
                ) from None

    def start_service(self, service: str) -> None:
        self.check_port(service)
        if service in self.docker_services:
            self._start_container(service)
            return
        self.procs[service] = start_module(f"services.{service}", self.service_env(service), self.log(service))

    def _start_container(self, service: str) -> None:
        import docker

        if self._docker is None:
            self._docker = docker.from_env()
        python_home = Path(sys.base_prefix)
        env = {k: v for k, v in self.service_env(service).items() if k.startswith(("AIG_", "HF_", "PYTHON"))}
        self.containers[service] = self._docker.containers.run(
            RUNTIME_IMAGE,
            [str(Path(sys.executable)), "-m", f"services.{service}"],
            name=f"{self.project}-{service}",
            detach=True,
            network_mode="host",
            working_dir=str(REPO_ROOT),
            environment=env,
            volumes={
                str(python_home): {"bind": str(python_home), "mode": "ro"},
                str(REPO_ROOT): {"bind": str(REPO_ROOT), "mode": "rw"},
            },
            labels={
                **project_labels(self.project, service),
                "io.autoinfraguard.health_url": f"{self.url(service)}/health",
            },
            restart_policy={"Name": "no"},
        )

    def wait_healthy(self, services: Iterable[str] | None = None, timeout_s: float = 120.0) -> None:
        pending = set(services or self.services)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for service in sorted(pending):
                proc = self.procs.get(service)
                if proc is not None and proc.poll() is not None:
                    raise StackError(f"{service} exited with {proc.returncode}; see {self.log(service)}")
                if http_ok(f"{self.url(service)}/health"):
                    pending.discard(service)
            time.sleep(0.5)
        if pending:
            raise StackError(f"not healthy after {timeout_s:.0f} s: {', '.join(sorted(pending))}; logs in {self.dir}")

    def ready(self, service: str) -> bool:
        return http_ok(f"{self.url(service)}/ready")

    def stop_service(self, service: str, timeout_s: float = 15.0) -> int | None:
        proc = self.procs.pop(service, None)
        if proc is None:
            return None
        return terminate(proc, timeout_s)

    def stop(self, purge: bool = False) -> None:
        """Stop every service; ``purge`` also deletes the run's topics and PostgreSQL schema."""
        for service in list(self.procs):
            self.stop_service(service)
        for container in self.containers.values():
            with contextlib.suppress(Exception):  # already gone
                container.remove(force=True)
        self.containers.clear()
        if purge:
            self.purge()

    def purge(self) -> None:
        delete_topics_with_prefix(self.kafka_bootstrap, self.prefix)
        drop_schema(self.base_dsn, self.schema)

    # ----------------------------------------------------------------- traffic
    def loadgen(
        self,
        *,
        rate: float,
        duration: float = 3600.0,
        seed: int = 7,
        faults: Sequence[FaultAt] = (),
        params: Sequence[str] = (),
        run_id: str | None = None,
        extra: Sequence[str] = (),
    ) -> subprocess.Popen[bytes]:
        """Start ``loadgen run`` against this stack; faults are (name, seconds into the run[, seconds long])."""
        args = loadgen_args(
            rate=rate,
            duration=duration,
            run_id=run_id or uuid.uuid4().hex[:8],
            seed=seed,
            faults=faults,
            params=params,
            extra=extra,
        )
        return start_module("loadgen", self.service_env("ingest"), self.log("loadgen"), args)

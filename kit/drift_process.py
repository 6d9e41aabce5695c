"""The real drift service as a subprocess (``python -m services.drift``), fed through real Kafka.

Used by the end-to-end tests and the service throughput benchmark: start it on its own topic
prefix, HTTP port and consumer group, send it pipeline events, and wait until its ``/metrics``
say it consumed them all.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import httpx

from kit.ports import free_port
from kit.replay import Batch
from services.common.bus import EventProducer
from services.common.connections import redis_client
from services.common.settings import REPO_ROOT, CommonSettings

_IN = re.compile(r'^aig_messages_in_total\{[^}]*service="drift"[^}]*\}\s+([0-9.e+]+)$', re.M)


class DriftProcess:
    """One drift service process; ``consumed()`` reads its consumed-message counter from /metrics."""

    def __init__(self, topic_prefix: str, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.topic_prefix = topic_prefix
        self.port = free_port()
        self.group_id = f"drift-{uuid.uuid4().hex[:8]}"
        self.redis_prefix = f"aig:drift:{uuid.uuid4().hex[:8]}:"
        self.env = {
            **os.environ,
            **(env or {}),
            "AIG_TOPIC_PREFIX": topic_prefix,
            "AIG_HTTP_PORT": str(self.port),
            "AIG_GROUP_ID": self.group_id,
            "AIG_REDIS_PREFIX": self.redis_prefix,
            "AIG_LOG_TO_KAFKA": "false",
            "PYTHONUNBUFFERED": "1",
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout_s: float = 60.0) -> None:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.drift"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"drift service exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"drift service not ready after {ready_timeout_s:.0f}s: {self.log_tail()}")

    def consumed(self) -> int:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return int(sum(float(v) for v in _IN.findall(text)))

    def wait_consumed(self, n: int, timeout_s: float = 180.0) -> float:
        """Wait until the service consumed ``n`` messages; returns the seconds it took."""
        t0 = time.monotonic()
        while (done := self.consumed()) < n:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"drift service exited with {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"drift service consumed {done} of {n} messages in {timeout_s:.0f}s")
            time.sleep(0.1)
        return time.monotonic() - t0

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, redis_url: str | None = None) -> int | None:
        """SIGTERM, wait for the clean exit; then drop this run's Redis keys."""
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        elif self.proc is not None:
            code = self.proc.returncode
        if self._log is not None:
            self._log.close()
        if redis_url:
            client = redis_client(CommonSettings(), redis_url)
            keys = list(client.scan_iter(f"{self.redis_prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        return code


def produce(settings: CommonSettings, batches: Iterable[Batch], model_event: dict[str, Any] | None = None) -> int:
    """Send everything as fast as Kafka takes it; returns the number of messages sent."""
    producer = EventProducer(settings)
    sent = 0
    if model_event is not None:
        producer.produce("model.events", model_event, key=model_event["model_name"])
        sent += 1
    for b in batches:
        for fv in b.features:
            producer.produce("features", fv, key=fv["member_id"])
        for p in b.predictions:
            producer.produce("predictions", p, key=p["event_id"])
        for lb in b.labels:
            producer.produce("labels", lb, key=lb["event_id"])
        sent += len(b)
    producer.flush()
    return sent

"""Health watch: raise service_down / service_hung incidents without waiting for any log line.

Two independent signals, so a crash that logs nothing is still caught:
- the Docker engine's event stream for containers of this compose project (die, oom, unhealthy),
- polling /health (and /ready) of every known service: no answer within the timeout for
  ``watch_failures`` polls in a row is a hang, a refused connection or a non-200 answer is down.
Defaults (1 s period, 2 s timeout, 2 failures) detect faster than a Kubernetes liveness probe
with its defaults (10 s period x 3 failures).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.connections import DEPENDENCY_CHECKS
from services.common.containers import PROJECT_LABEL, SERVICE_LABEL
from services.common.events import new_id, now_ms
from services.common.incidents import fingerprint, incident_record
from services.healer.safety import SafetyStore
from services.healer.settings import HealerSettings

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], None]


@dataclass
class Probe:
    """Consecutive failures of one URL."""

    service: str
    url: str
    kind: str  # health or ready
    container: str | None = None
    failures: int = 0
    first_failure_ms: int = 0
    last_error: str = ""
    hung: bool = False
    dependencies: tuple[str, ...] = ()  # a /ready that fails on shared dependencies alone names them


@dataclass
class Outage:
    incident_id: str
    type: str
    service: str
    first_seen: int
    last_emit_ms: int = 0
    count: int = 0
    evidence: dict[str, str] = field(default_factory=dict)


def failing_dependencies(body: Any) -> tuple[str, ...]:
    """The shared dependencies a /ready answer fails on, when they are all it fails on; () otherwise.

    A service waiting for PostgreSQL or Redis is not broken: restarting it would not bring them back.
    """
    checks = body.get("checks") if isinstance(body, dict) else None
    if not isinstance(checks, dict):
        return ()
    failing = sorted(str(name) for name, ok in checks.items() if not ok)
    return tuple(failing) if failing and set(failing) <= DEPENDENCY_CHECKS else ()


def classify(exc: Exception | None, status: int | None) -> tuple[bool, bool, str]:
    """(ok, hung, error) of one probe: no answer in time means hung, anything else not-200 means down."""
    if exc is None and status == 200:
        return True, False, ""
    if isinstance(exc, httpx.TimeoutException):
        return False, True, f"no answer within the timeout ({type(exc).__name__})"
    if exc is not None:
        return False, False, f"{type(exc).__name__}: {exc}"
    return False, False, f"answered HTTP {status}"


class HealthWatch:
    def __init__(
        self,
        settings: HealerSettings,
        emit: Emit,
        safety: SafetyStore | None = None,
        docker: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.emit = emit
        self.safety = safety
        self.docker = docker
        self.probes: dict[str, Probe] = {}
        for service, base in settings.watch_urls.items():
            base = base.rstrip("/")
            self.probes[f"{service}/health"] = Probe(service, f"{base}/health", "health")
            self.probes[f"{service}/ready"] = Probe(service, f"{base}/ready", "ready")
        self.outages: dict[tuple[str, str], Outage] = {}
        self._lock = threading.Lock()
        self._stream: Any = None
        self._deliberate: dict[str, int] = {}
        self.emitted = 0
        self.round_errors = 0  # rounds or probes that raised (logged, then probing went on)

    # -- lifecycle -----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop``; the Docker event stream runs on its own thread."""
        events = None
        if self.settings.watch_docker_events and self.docker is not None:
            events = threading.Thread(target=self._events_loop, args=(stop,), name="docker-events", daemon=True)
            events.start()
        next_discovery = 0.0
        with ThreadPoolExecutor(8, thread_name_prefix="probe") as pool, httpx.Client() as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    if self.docker is not None and started >= next_discovery:
                        self._discover()
                        next_discovery = started + self.settings.watch_discovery_s
                    self._round(pool, client)
                except Exception as exc:  # the watch is the last line of defence: it must outlive any error
                    self.round_errors += 1
                    log.warning("health watch round failed (%s: %s); probing goes on", type(exc).__name__, exc)
                stop.wait(max(0.0, self.settings.watch_interval_s - (time.monotonic() - started)))
        if self._stream is not None:
            self._stream.close()
        if events is not None:
            events.join(timeout=5)

    def _round(self, pool: ThreadPoolExecutor, client: httpx.Client) -> None:
        """Probe every URL once; one probe's bookkeeping failing does not skip the others."""
        probes = list(self.probes.values())
        results = list(pool.map(lambda p: self._probe(client, p), probes))
        for probe, (ok, hung, error, at_ms) in zip(probes, results, strict=True):
            try:
                self.observe(probe, ok, hung, error, at_ms)
            except Exception as exc:
                self.round_errors += 1
                log.warning("health watch: %s not handled (%s: %s)", probe.url, type(exc).__name__, exc)

    def _probe(self, client: httpx.Client, probe: Probe) -> tuple[bool, bool, str, int]:
        at = now_ms()
        try:
            resp = client.get(probe.url, timeout=self.settings.watch_timeout_s)
        except Exception as exc:  # a bad URL (httpx.InvalidURL) is a failing probe too, not a dead watch
            return (*classify(exc, None), at)
        if probe.kind == "ready" and resp.status_code == 503:
            try:
                probe.dependencies = failing_dependencies(resp.json())
            except ValueError:
                probe.dependencies = ()
        return (*classify(None, resp.status_code), at)

    def _discover(self) -> None:
        """Containers of the project that carry a health-URL label become probes."""
        try:
            containers = self.docker().containers.list(  # type: ignore[misc]
                all=True, filters={"label": [f"{PROJECT_LABEL}={self.settings.compose_project}"]}
            )
        except Exception as exc:
            log.warning("container discovery failed: %s", exc)
            return
        seen = set()
        for c in containers:
            url = c.labels.get(self.settings.health_url_label)
            service = c.labels.get(SERVICE_LABEL)
            if not url or not service:
                continue
            key = f"{service}/container/{c.name}"
            seen.add(key)
            if key not in self.probes or self.probes[key].url != url:
                self.probes[key] = Probe(service, url, "health", container=c.name)
        for key in [k for k in self.probes if "/container/" in k and k not in seen]:
            del self.probes[key]

    # -- probe results -------------------------------------------------------------------------
    def observe(self, probe: Probe, ok: bool, hung: bool, error: str, at_ms: int) -> None:
        """Feed one probe result (pure bookkeeping + emit); public so tests can drive it."""
        if ok:
            if probe.failures:  # answering and ready: whatever outage was reported is over
                self.clear(probe.service)
            probe.failures, probe.hung, probe.last_error = 0, False, ""
            return
        if probe.container and self.safety is not None and self.safety.is_restarting(probe.container):
            probe.failures = 0  # the healer itself is restarting it
            return
        if probe.failures == 0:
            probe.first_failure_ms = at_ms
        probe.failures += 1
        probe.hung, probe.last_error = hung, error
        threshold = self.settings.watch_failures if probe.kind == "health" else self.settings.watch_ready_failures
        if probe.failures < threshold:
            return
        type_ = "service_hung" if hung else "service_down"
        evidence = {
            "detector": "http_probe",
            "url": probe.url,
            "consecutive_failures": str(probe.failures),
            "timeout_s": f"{self.settings.watch_timeout_s:g}",
            "error": error,
        }
        if probe.container:
            evidence["container"] = probe.container
        if probe.kind == "ready" and probe.dependencies:
            names = ", ".join(probe.dependencies)
            summary = f"{probe.service} has been waiting for {names} for {probe.failures} checks"
            evidence["dependencies"] = names
            self.raise_incident(
                "log_error",
                probe.service,
                probe.first_failure_ms,
                summary,
                evidence,
                root_cause="dependency_unavailable",
                target=probe.dependencies[0],
            )
        elif probe.kind == "ready":
            summary = f"{probe.service} has not been ready for {probe.failures} checks: {error}"
            self.raise_incident(
                type_, probe.service, probe.first_failure_ms, summary, evidence, root_cause="dependency_unavailable"
            )
        elif hung:
            summary = f"{probe.service} is hung: /health gave no answer within {self.settings.watch_timeout_s:g} s"
            self.raise_incident(type_, probe.service, probe.first_failure_ms, summary, evidence, root_cause="timeout")
        else:
            summary = f"{probe.service} is down: /health {error}"
            self.raise_incident(type_, probe.service, probe.first_failure_ms, summary, evidence)

    def clear(self, service: str) -> None:
        with self._lock:
            for key in [k for k in self.outages if k[1] == service]:
                log.info("%s is healthy again", service)
                del self.outages[key]

    def raise_incident(
        self,
        type_: str,
        service: str,
        first_seen: int,
        summary: str,
        evidence: dict[str, str],
        root_cause: str | None = None,
        target: str | None = None,
    ) -> bool:
        """Emit an incident for a new outage, or re-emit a still-open one every ``watch_reemit_s``."""
        now = now_ms()
        with self._lock:
            outage = self.outages.get((type_, service))
            if outage is None:
                outage = self.outages[(type_, service)] = Outage(new_id(), type_, service, first_seen)
            elif now - outage.last_emit_ms < self.settings.watch_reemit_s * 1000:
                return False
            outage.count += 1
            outage.last_emit_ms = now
            outage.evidence.update(evidence)
            record = incident_record(
                self.settings.service_name,
                incident_id=outage.incident_id,
                fingerprint=fingerprint(type_, service, root_cause or "")
                if type_ == "log_error"
                else fingerprint(type_, service),
                type=type_,
                root_cause=root_cause,
                service=service,
                target=target or evidence.get("container"),
                severity="critical",
                summary=summary,
                explanation=(
                    f"{summary}. Detected by the healer's health watch ({evidence.get('detector')}). "
                    f"First seen {(now - outage.first_seen) / 1000:.1f} s ago, {outage.count} report(s). "
                    + (
                        f"Suggested action: bring {target} back; {service} waits and recovers by itself."
                        if root_cause == "dependency_unavailable" and type_ == "log_error"
                        else "Suggested action: restart the container and check its logs."
                    )
                ),
                count=outage.count,
                first_seen=outage.first_seen,
                last_seen=now,
                evidence=dict(outage.evidence),
            )
        log.warning("health watch: %s", summary, extra={"incident_id": record["incident_id"]})
        try:
            self.emit(record)
        except Exception:
            with self._lock:  # not sent: the next failing probe sends it again, not a re-emit period later
                outage.count -= 1
                outage.last_emit_ms = 0
                if outage.count == 0:
                    self.outages.pop((type_, service), None)
            raise
        self.emitted += 1
        return True

    # -- Docker events -------------------------------------------------------------------------
    def _events_loop(self, stop: threading.Event) -> None:
        since = int(time.time())
        while not stop.is_set():
            try:
                client = self.docker()  # type: ignore[misc]
                self._stream = client.events(
                    decode=True,
                    since=since,
                    filters={"type": "container", "label": [f"{PROJECT_LABEL}={self.settings.compose_project}"]},
                )
                for event in self._stream:
                    since = int(event.get("time", since))
                    self.on_docker_event(event)
                    if stop.is_set():
                        break
            except Exception as exc:
                if stop.is_set():
                    return
                log.warning("docker event stream broke (%s); reconnecting", exc)
                stop.wait(1.0)

    def on_docker_event(self, event: dict[str, Any]) -> None:
        action = str(event.get("Action") or event.get("status") or "")
        attrs = (event.get("Actor") or {}).get("Attributes") or {}
        service = attrs.get(SERVICE_LABEL)
        name = attrs.get("name", "")
        if not service or attrs.get(PROJECT_LABEL) != self.settings.compose_project:
            return
        at = int(event.get("timeNano", 0)) // 1_000_000 or now_ms()
        if action == "start" or action == "health_status: healthy":
            if action == "start" and self.safety is not None:
                self.safety.clear_restarting(name)  # watch it again from its first breath
            return self.clear(service)
        if self.safety is not None and self.safety.is_restarting(name):
            return None
        if action == "kill" and str(attrs.get("signal")) == "15":
            self._deliberate[name] = at  # docker stop / compose down: an operator's choice, not a fault
            return None
        if action == "die" and at - self._deliberate.pop(name, -(10**12)) < 30_000:
            log.info("container %s stopped on request; not an incident", name)
            return None
        evidence = {"detector": "docker_events", "container": name, "docker_event": action}
        if action == "die":
            code = attrs.get("exitCode", "?")
            evidence["exit_code"] = str(code)
            self.raise_incident(
                "service_down", service, at, f"container {name} of {service} died (exit code {code})", evidence
            )
        elif action == "oom":
            self.raise_incident(
                "service_down",
                service,
                at,
                f"container {name} of {service} ran out of memory",
                evidence,
                root_cause="out_of_memory",
            )
        elif action.startswith("health_status") and "unhealthy" in action:
            self.raise_incident("service_down", service, at, f"container {name} of {service} is unhealthy", evidence)
        return None

"""Closed loop: after an action, watch the same signals that raised the incident, for a bounded time.

A restart is fixed when the container runs (healthy, if it has a healthcheck) and its /health
answers; a retrain when a new model version goes live; a rollback when the model is rolled
back; drift and log errors when no fresh incident with the same fingerprint arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from services.common.events import now_ms
from services.healer.actions.restart_container import find_containers
from services.healer.handlers import IncidentView, PlannedStep
from services.healer.safety import SafetyStore
from services.healer.settings import HealerSettings


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    detail: str
    verified_ms: int


class Verifier:
    def __init__(
        self,
        settings: HealerSettings,
        safety: SafetyStore,
        docker: Callable[[], Any],
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.safety = safety
        self.docker = docker
        self.stop = stop or threading.Event()

    def verify(self, incident: IncidentView, step: PlannedStep, started_ms: int) -> VerifyResult:
        deadline = time.monotonic() + step.verify_timeout_s
        check = {
            "health": self._health,
            "model_live": self._model_live,
            "model_rolled_back": self._model_rolled_back,
            "quiet": self._quiet,
        }.get(step.verify)
        if check is None:  # delivered / none: the action itself was the proof
            return VerifyResult(True, f"{step.verify}: the action was acknowledged", now_ms())
        detail = "not checked"
        while True:
            ok, detail, final = check(incident, step, started_ms)
            if ok or final:
                return VerifyResult(ok, detail, now_ms())
            if time.monotonic() >= deadline or self.stop.wait(self.settings.verify_interval_s):
                return VerifyResult(False, f"not verified within {step.verify_timeout_s:g} s: {detail}", now_ms())

    # each check returns (ok, detail, final): final=True ends the wait early with that answer

    def _health(self, incident: IncidentView, step: PlannedStep, started_ms: int) -> tuple[bool, str, bool]:
        s = self.settings
        containers = find_containers(self.docker(), s.compose_project, step.target, s.allowed_containers)
        if not containers:
            return False, f"no container for {step.target}", False
        urls = []
        for c in containers:
            c.reload()
            health = (c.attrs.get("State", {}).get("Health") or {}).get("Status")
            if c.status != "running" or health not in (None, "healthy"):
                return False, f"{c.name} is {c.status}" + (f" ({health})" if health else ""), False
            url = c.labels.get(s.health_url_label)
            if url:
                urls.append(url)
        if not urls and step.target in s.watch_urls:
            urls.append(s.watch_urls[step.target].rstrip("/") + "/health")
        for url in urls:
            try:
                resp = httpx.get(url, timeout=s.watch_timeout_s)
            except httpx.HTTPError as exc:
                return False, f"{url} does not answer ({type(exc).__name__})", False
            if resp.status_code != 200:
                return False, f"{url} answered {resp.status_code}", False
        names = ", ".join(c.name for c in containers)
        return True, f"{names} running" + (f"; {', '.join(urls)} answered 200" if urls else ""), False

    def _model_live(self, incident: IncidentView, step: PlannedStep, started_ms: int) -> tuple[bool, str, bool]:
        events = self.safety.model_events_since(started_ms)
        for ev in events:
            if ev.get("status") == "live":
                return True, f"model {ev.get('model_name')} v{ev.get('version')} went live", True
        rejected = [ev for ev in events if ev.get("status") == "rejected"]
        if rejected:
            ev = rejected[0]
            return False, f"the gate rejected candidate v{ev.get('version')} of {ev.get('model_name')}", True
        return False, "no new live model version yet", False

    def _model_rolled_back(
        self, incident: IncidentView, step: PlannedStep, started_ms: int
    ) -> tuple[bool, str, bool]:
        for ev in self.safety.model_events_since(started_ms):
            if ev.get("status") == "rolled_back" or (
                ev.get("status") == "live"
                and ev.get("previous_version") is not None
                and int(ev["version"]) < int(ev["previous_version"])
            ):
                return True, f"model {ev.get('model_name')} rolled back to v{ev.get('version')}", True
        return False, "no rollback seen on model.events yet", False

    def _quiet(self, incident: IncidentView, step: PlannedStep, started_ms: int) -> tuple[bool, str, bool]:
        seen = self.safety.last_seen(incident.fingerprint)
        if seen > started_ms:
            return False, f"the same problem was seen again {seen - started_ms} ms after the action", True
        window_ms = int(min(self.settings.quiet_window_s, step.verify_timeout_s - 0.5) * 1000)
        quiet_for = now_ms() - started_ms
        if quiet_for >= window_ms:
            return True, f"no fresh incident with this fingerprint for {quiet_for / 1000:.1f} s", True
        return False, f"quiet for {quiet_for / 1000:.1f} s of {window_ms / 1000:.1f} s", False

"""Closed loop: after an action, watch the same signals that raised the incident, for a bounded time.

A restart is fixed when the container runs (healthy, if it has a healthcheck) and its /health
answers; a retrain when the trainer's answer to this very command is a live version; a rollback
when its answer rolls the model back; drift and log errors when no fresh incident with the same
fingerprint arrives. Model events answering other commands are never taken as this action's effect.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.events import now_ms
from services.healer.actions.restart_container import find_containers
from services.healer.handlers import IncidentView, ModelAnswerStatus, PlannedStep
from services.healer.safety import SafetyStore
from services.healer.settings import HealerSettings

# Verifications proved only by the trainer's answer to the command the action sent.
ANSWERED_VERIFICATIONS = frozenset({"model_live", "model_rolled_back"})


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    detail: str
    verified_ms: int
    evidence: dict[str, str] = field(default_factory=dict)  # e.g. the model version that answered


@dataclass(frozen=True)
class Probe:
    """One verification: what is checked, since when, and the command whose answer proves it."""

    incident: IncidentView
    step: PlannedStep
    started_ms: int
    command_id: str | None


@dataclass(frozen=True)
class Check:
    """One look at the signals; ``final`` ends the wait early with this answer."""

    ok: bool
    detail: str
    final: bool = False
    evidence: dict[str, str] = field(default_factory=dict)


def _says(ev: dict[str, Any], status: ModelAnswerStatus) -> bool:
    """Whether the trainer's answer ``ev`` has ``status``."""
    return ev.get("status") == status


def _answer_evidence(probe: Probe, ev: dict[str, Any]) -> dict[str, str]:
    return {
        "command_id": probe.command_id or "",
        "model_version": str(ev.get("version")),
        "model_status": str(ev.get("status")),
        "model_event_id": str(ev.get("event_id") or ""),
    }


def judge_retrain(probe: Probe, answers: list[dict[str, Any]]) -> Check:
    """The trainer's answer to this retrain: live fixes it; a rejection or refusal is final, with its reason."""
    if probe.command_id is None:
        return Check(False, "the retrain sent no command whose answer could prove it", True)
    for ev in answers:
        name, version, reason = ev.get("model_name"), ev.get("version"), ev.get("reason") or "no reason given"
        if _says(ev, "live"):
            return Check(
                True, f"model {name} v{version} went live in answer to this retrain", True, _answer_evidence(probe, ev)
            )
        if _says(ev, "rejected"):
            return Check(
                False, f"the gate rejected candidate v{version} of {name}: {reason}", True, _answer_evidence(probe, ev)
            )
        if _says(ev, "refused"):
            return Check(False, f"the trainer refused the retrain: {reason}", True, _answer_evidence(probe, ev))
    return Check(False, f"no answer to retrain command {probe.command_id} on model.events yet")


def judge_rollback(probe: Probe, answers: list[dict[str, Any]]) -> Check:
    """The trainer's answer to this rollback: a version rolled back and an older one live again fix it;
    a refusal is final."""
    if probe.command_id is None:
        return Check(False, "the rollback sent no command whose answer could prove it", True)
    refused = next((a for a in answers if _says(a, "refused")), None)
    if refused is not None:
        return Check(
            False,
            f"the trainer refused the rollback: {refused.get('reason') or 'no reason given'}",
            True,
            _answer_evidence(probe, refused),
        )
    rolled = next((a for a in answers if _says(a, "rolled_back")), None)
    restored = next((a for a in answers if _says(a, "live") and _is_older(a)), None)
    if restored is not None:
        gone = rolled.get("version") if rolled is not None else restored.get("previous_version")
        return Check(
            True,
            f"model {restored.get('model_name')} v{gone} rolled back, v{restored.get('version')} "
            "live again in answer to this rollback",
            True,
            _answer_evidence(probe, restored),
        )
    if rolled is not None:
        return Check(False, f"v{rolled.get('version')} rolled back; waiting for the version restored in its place")
    return Check(False, f"no answer to rollback command {probe.command_id} on model.events yet")


def _is_older(ev: dict[str, Any]) -> bool:
    """A live version older than the one it replaces: what a rollback restores."""
    previous = ev.get("previous_version")
    return previous is not None and int(ev["version"]) < int(previous)


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

    def verify(
        self, incident: IncidentView, step: PlannedStep, started_ms: int, command_id: str | None = None
    ) -> VerifyResult:
        """Watch until the step is proved, disproved, or its verify timeout passes."""
        deadline = time.monotonic() + step.verify_timeout_s
        check = {
            "health": self._health,
            "model_live": self._model_live,
            "model_rolled_back": self._model_rolled_back,
            "quiet": self._quiet,
            "recovered": self._recovered,
        }.get(step.verify)
        if check is None:  # delivered / none: the action itself was the proof
            return VerifyResult(True, f"{step.verify}: the action was acknowledged", now_ms())
        probe = Probe(incident, step, started_ms, command_id)
        while True:
            seen = check(probe)
            if seen.ok or seen.final:
                return VerifyResult(seen.ok, seen.detail, now_ms(), seen.evidence)
            if time.monotonic() >= deadline or self.stop.wait(self.settings.verify_interval_s):
                return VerifyResult(
                    False, f"not verified within {step.verify_timeout_s:g} s: {seen.detail}", now_ms(), seen.evidence
                )

    def _health(self, probe: Probe) -> Check:
        s, step = self.settings, probe.step
        containers = find_containers(self.docker(), s.compose_project, step.target, s.allowed_containers)
        if not containers:
            return Check(False, f"no container for {step.target}")
        urls = []
        for c in containers:
            c.reload()
            health = (c.attrs.get("State", {}).get("Health") or {}).get("Status")
            if c.status != "running" or health not in (None, "healthy"):
                return Check(False, f"{c.name} is {c.status}" + (f" ({health})" if health else ""))
            url = c.labels.get(s.health_url_label)
            if url:
                urls.append(url)
        if not urls and step.target in s.watch_urls:
            urls.append(s.watch_urls[step.target].rstrip("/") + "/health")
        for url in urls:
            try:
                resp = httpx.get(url, timeout=s.watch_timeout_s)
            except httpx.HTTPError as exc:
                return Check(False, f"{url} does not answer ({type(exc).__name__})")
            if resp.status_code != 200:
                return Check(False, f"{url} answered {resp.status_code}")
        names = ", ".join(c.name for c in containers)
        return Check(True, f"{names} running" + (f"; {', '.join(urls)} answered 200" if urls else ""))

    def _model_live(self, probe: Probe) -> Check:
        return judge_retrain(probe, self._answers(probe))

    def _model_rolled_back(self, probe: Probe) -> Check:
        return judge_rollback(probe, self._answers(probe))

    def _answers(self, probe: Probe) -> list[dict[str, Any]]:
        return self.safety.model_answers(probe.command_id) if probe.command_id else []

    def _quiet(self, probe: Probe) -> Check:
        seen = self.safety.last_seen(probe.incident.fingerprint)
        if seen > probe.started_ms:
            return Check(False, f"the same problem was seen again {seen - probe.started_ms} ms after the action", True)
        window_ms = int(min(self.settings.quiet_window_s, probe.step.verify_timeout_s - 0.5) * 1000)
        quiet_for = now_ms() - probe.started_ms
        if quiet_for >= window_ms:
            return Check(True, f"no fresh incident with this fingerprint for {quiet_for / 1000:.1f} s", True)
        return Check(False, f"quiet for {quiet_for / 1000:.1f} s of {window_ms / 1000:.1f} s")

    def _recovered(self, probe: Probe) -> Check:
        """The reports have stopped: none for ``quiet_s`` (a step parameter) since the later of the action
        and the last report. A report meanwhile only restarts the count: the problem is still ending."""
        quiet_ms = int(float(probe.step.params.get("quiet_s", self.settings.quiet_window_s)) * 1000)
        last = max(probe.started_ms, self.safety.last_seen(probe.incident.fingerprint))
        quiet_for = now_ms() - last
        if quiet_for >= quiet_ms:
            return Check(True, f"no report of the problem for {quiet_for / 1000:.1f} s: it ended", True)
        return Check(
            False, f"last report {quiet_for / 1000:.1f} s ago; waiting for {quiet_ms / 1000:.0f} s without one"
        )

"""The healing loop: decide (pure), then act, verify, learn and audit each rung of the ladder.

One episode per fingerprint at a time across every replica (Redis lock + shared state); an
episode runs on a worker thread so a slow verification never delays other incidents. While an
episode is open (acting, or escalated to a human) new reports of its problem are recorded on it
as updates; once it is resolved, a fresh report starts a new episode.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from services.common.commands import sign_command
from services.common.events import derived_id, now_ms
from services.healer.actions.base import ActionContext, ActionResult, TargetMissing
from services.healer.actions.registry import get_action
from services.healer.alerts import Alerter, incident_alert
from services.healer.audit import Auditor, action_event
from services.healer.handlers import (
    HUMAN,
    ActionStatus,
    BadIncident,
    BadInputNote,
    Decision,
    EpisodeStatus,
    FingerprintState,
    IncidentView,
    PlannedStep,
    Refusal,
    attribute_to_bad_input,
    decide,
    is_bad_input,
    validate_incident,
)
from services.healer.learning import RedisStats, thompson_order
from services.healer.metrics import DETECTION, INCIDENTS, RECOVERY
from services.healer.policy import Policy
from services.healer.safety import CooldownHolder, SafetyStore, backoff_delay
from services.healer.settings import HealerSettings
from services.healer.verify import ANSWERED_VERIFICATIONS, Verifier, VerifyResult

log = logging.getLogger(__name__)

ABSORBED = frozenset({"update", "duplicate"})  # decisions that start no episode
HumanResolution = Literal["resolved", "unknown", "not_escalated", "busy"]
# How one step of the ladder ends: the episode's status when the episode ends there, None to go on climbing.
StepEnd = EpisodeStatus | None


@dataclass(slots=True)
class _Climb:
    """One episode on its ladder: what it is about, and what its steps have tried so far."""

    inc: IncidentView
    decision: Decision
    received_ms: int
    token: str
    attempt: int = 0  # remedies tried (alerts do not count)
    last_failure: str = ""  # what went wrong last, for the human who gets the incident
    cooled: set[tuple[str, str]] = field(default_factory=set)  # (target, action) cooldowns this episode holds

    @property
    def ttd(self) -> int:
        return self.received_ms - self.inc.first_seen


def _bad_view(value: dict[str, Any]) -> IncidentView:
    """A best-effort view of an invalid incident, only to audit the refusal."""
    event_id = str(value.get("event_id") or derived_id("bad-incident", repr(sorted(value.items()))[:2000]))
    return IncidentView(
        event_id=event_id,
        incident_id=str(value.get("incident_id") or event_id),
        fingerprint=str(value.get("fingerprint") or "invalid"),
        type=str(value.get("type") or "unknown"),
        root_cause=None,
        service=str(value.get("service") or "unknown"),
        target=None,
        severity="warning",
        summary=str(value.get("summary") or ""),
        explanation="",
        count=1,
        first_seen=0,
        last_seen=0,
        ts=0,
    )


def _row_view(row: dict[str, Any]) -> IncidentView:
    """An incident audit row as the view the audit helpers take."""
    first_seen = row["first_seen"]
    first_ms = int(first_seen.timestamp() * 1000) if isinstance(first_seen, datetime) else int(first_seen or 0)
    return IncidentView(
        event_id=str(row["event_id"]),
        incident_id=str(row["incident_id"]),
        fingerprint=str(row["fingerprint"]),
        type=str(row["type"]),
        root_cause=row.get("root_cause"),
        service=str(row["service"]),
        target=row.get("target"),
        severity=str(row.get("severity") or "warning"),
        summary=str(row.get("summary") or ""),
        explanation=str(row.get("explanation") or ""),
        count=int(row.get("count") or 1),
        first_seen=first_ms,
        last_seen=first_ms,
        ts=first_ms,
    )


def _why_human(attempts: int, last_failure: str, inc: IncidentView | None = None) -> str:
    """Why a human gets the incident, with the last thing that went wrong (e.g. the gate's reason)."""
    if not attempts:
        evidence = inc.evidence if inc is not None else {}
        if evidence.get("bad_input_incident"):
            return (
                f"the policy hands this to a human: it follows bad input ({evidence['bad_input_class']}, "
                f"incident {evidence['bad_input_incident']}), and retraining on it would teach the model "
                "the fault"
            )
        return "the policy hands this to a human"
    return f"{attempts} attempt(s) did not fix it" + (f"; last: {last_failure}" if last_failure else "")


class Healer:
    def __init__(
        self,
        settings: HealerSettings,
        policy: Policy,
        safety: SafetyStore,
        auditor: Auditor,
        alerter: Alerter,
        publish: Callable[[str, dict[str, Any], str | None], None],
        docker: Callable[[], Any],
        *,
        synchronous: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.safety = safety
        self.auditor = auditor
        self.alerter = alerter
        self.publish = publish
        self.docker = docker
        self.stats = RedisStats(safety.r, settings.redis_prefix)
        self.rng = rng or random.Random(settings.learning_seed)
        self.stop = threading.Event()
        self.verifier = Verifier(settings, safety, docker, self.stop)
        self.synchronous = synchronous
        self.executor = ThreadPoolExecutor(settings.max_concurrent_episodes, thread_name_prefix="episode")
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._leases: dict[str, str] = {}  # fingerprint -> lock token of each episode this replica runs
        self.allowed = set(settings.allowed_services) | set(settings.allowed_containers)
        self._lease_keeper = threading.Thread(target=self._keep_leases, name="episode-leases", daemon=True)
        self._lease_keeper.start()

    # -- a human closes an escalated episode -----------------------------------------------------
    def resolve_by_human(self, incident_id: str, note: str = "") -> HumanResolution:
        """Close an escalated incident a human has dealt with, so the next report of its problem starts a
        new episode instead of updating this one."""
        row = self.auditor.incident_row(incident_id)
        if row is None:
            return "unknown"
        if row["status"] != "escalated":
            return "not_escalated"
        fingerprint = str(row["fingerprint"])
        token = self.safety.acquire_lock(fingerprint, self.settings.lock_ttl_s)
        if token is None:
            return "busy"
        try:
            closed = now_ms()
            state = self.safety.get_state(fingerprint)
            if state is None or state.incident_id == incident_id:
                self.safety.set_state(fingerprint, FingerprintState(incident_id, "resolved", closed))
            inc = _row_view(row)
            ttr = closed - inc.first_seen
            self._audit(
                inc,
                derived_id("resolved-by-human", incident_id),
                "none",
                HUMAN,
                "resolved",
                reason=f"resolved by a human{': ' + note if note else ''}",
                time_to_recover_ms=ttr,
            )
            self.auditor.close(incident_id, "resolved", closed, row.get("time_to_detect_ms"), ttr)
        finally:
            self.safety.release_lock(fingerprint, token)
        return "resolved"

    # -- input ---------------------------------------------------------------------------------
    def on_model_event(self, value: dict[str, Any]) -> None:
        self.safety.note_model_event(value, now_ms())

    def on_incident(self, value: dict[str, Any], received_ms: int | None = None) -> Decision:
        """Handle one Incident event; returns the decision (the episode may still be running)."""
        received = received_ms or now_ms()
        try:
            inc = validate_incident(value)
        except BadIncident as exc:
            return self._refuse_bad(value, str(exc))
        self.safety.note_seen(inc.fingerprint, inc.last_seen)
        inc = self._attribute(inc)
        decision = self._decide(inc)
        if decision.kind in ABSORBED:
            return self._absorb(inc, decision)
        acquired = self._acquire(inc)
        if isinstance(acquired, Decision):
            return self._absorb(inc, acquired)
        token, handed_over = acquired, False
        try:
            decision = self._decide(inc)  # again under the lock: another replica may have just finished
            if decision.kind in ABSORBED:
                return self._absorb(inc, decision)
            if decision.kind == "act":
                decision = self._limit_source(str(value.get("source") or "unknown"), decision)
            INCIDENTS.labels(decision.kind).inc()
            DETECTION.labels(inc.type).observe(max(0, received - inc.first_seen) / 1000)
            self.auditor.incident(inc, received, decision.policy_version)
            if decision.kind != "act":
                self._finish_without_action(inc, decision)
                return decision
            self._open_episode(inc, token, received)
            handed_over = True
        finally:
            if not handed_over:
                self.safety.release_lock(inc.fingerprint, token)
        self._start_episode(inc, decision, token, received)
        return decision

    def _open_episode(self, inc: IncidentView, token: str, received_ms: int) -> None:
        """Mark the fingerprint acting and journal the episode before the incident's offset is committed, so
        the episode outlives this replica: its lease lapses if the replica dies, and another one takes it over."""
        self.safety.journal_episode(inc.fingerprint, asdict(inc), received_ms)
        self.safety.set_state(
            inc.fingerprint, FingerprintState(inc.incident_id, "acting", now_ms()), ttl_s=self.settings.lock_ttl_s
        )
        with self._lock:
            self._leases[inc.fingerprint] = token

    def _start_episode(
        self, inc: IncidentView, decision: Decision, token: str, received: int, *, taken_over: bool = False
    ) -> None:
        """Run the episode; a taken-over one always on a worker, so the lease keeper goes on renewing."""
        run = partial(self._episode, inc, decision, token, received)
        if self.synchronous and not taken_over:
            run()
        else:
            fut = self.executor.submit(run)
            with self._lock:
                self._futures.add(fut)
            fut.add_done_callback(self._done)

    # -- episodes outlive the replica that runs them --------------------------------------------
    def _keep_leases(self) -> None:
        """Renew the leases of this replica's episodes, and take over the episodes whose replica died.

        A lease is ``lock_ttl_s`` long and renewed every third of it, so a replica that is SIGKILLed
        frees its episodes within ``lock_ttl_s``; any replica (the same one restarted included) then
        resumes them from the journal.
        """
        every = self.settings.lock_ttl_s / 3
        while True:
            try:
                self._renew_leases()
                self.resume_orphans()
            except Exception as exc:  # Redis away: the next round tries again; the leases are longer than a round
                log.warning("episode lease round failed: %s", exc)
            if self.stop.wait(every):
                return

    def _renew_leases(self) -> None:
        with self._lock:
            leases = list(self._leases.items())
        for fingerprint, token in leases:
            if self.safety.refresh_lock(fingerprint, token, self.settings.lock_ttl_s):
                self.safety.touch_state(fingerprint, self.settings.lock_ttl_s)
                continue
            with self._lock:
                still_ours = self._leases.get(fingerprint) == token  # not merely ended since the copy above
            if still_ours:
                log.error("the lease on the episode of %s lapsed: another replica may take it over", fingerprint)

    def resume_orphans(self) -> int:
        """Resume every journaled episode whose lease has lapsed (its replica died); returns how many."""
        resumed = 0
        for fingerprint in self.safety.journaled_fingerprints():
            with self._lock:
                if fingerprint in self._leases:
                    continue
            if self.stop.is_set():
                break
            resumed += self._resume(fingerprint)
        return resumed

    def _resume(self, fingerprint: str) -> int:
        token = self.safety.acquire_lock(fingerprint, self.settings.lock_ttl_s)
        if token is None:
            return 0  # its replica is alive, or another one took it over
        handed_over = False
        try:
            entry = self.safety.journaled_episode(fingerprint)  # again under the lock: it may have just ended
            if entry is None:
                return 0
            raw, received = entry
            try:
                inc = validate_incident(raw)
            except BadIncident as exc:
                log.error("journaled episode of %s is not an incident, dropped: %s", fingerprint, exc)
                self.safety.drop_episode(fingerprint)
                return 0
            state = self.safety.get_state(fingerprint)
            if state is not None and state.incident_id == inc.incident_id and state.status != "acting":
                self.safety.drop_episode(fingerprint)  # it ended; its replica died before dropping the journal
                return 0
            if state is not None and state.status == "acting":
                self.safety.clear_state(fingerprint)  # the dead replica's: decided afresh
            decision = self._decide(inc)
            if decision.kind != "act":
                self.safety.drop_episode(fingerprint)
                if decision.kind not in ABSORBED:
                    self._finish_without_action(inc, decision)
                return 0
            log.warning(
                "taking over the episode of incident %s: the replica that ran it stopped before it ended",
                inc.incident_id,
                extra={"incident_id": inc.incident_id},
            )
            self._open_episode(inc, token, received)
            handed_over = True
        finally:
            if not handed_over:
                self.safety.release_lock(fingerprint, token)
        self._start_episode(inc, decision, token, received, taken_over=True)
        return 1

    def _limit_source(self, source: str, decision: Decision) -> Decision:
        """Each producer of incidents may start at most ``source_max_episodes`` episodes per window: a
        compromised or runaway source cannot spend the whole action budget (the refusal is audited)."""
        s = self.settings
        if self.safety.take_source_slot(source, now_ms(), s.source_window_s, s.source_max_episodes):
            return decision
        reason = (
            f"rate limited: source {source!r} started {s.source_max_episodes} episodes within {s.source_window_s:g} s"
        )
        log.warning("incident refused: %s", reason)
        return Decision("refuse", reason, policy_version=decision.policy_version)

    def _attribute(self, inc: IncidentView) -> IncidentView:
        """Note a report of bad input; give a drift that follows one the root cause upstream_data."""
        if is_bad_input(inc):
            self.safety.note_bad_input(BadInputNote(inc.incident_id, inc.incident_class, inc.last_seen))
            return inc
        attributed = attribute_to_bad_input(
            inc, self.safety.bad_input_note(), int(self.settings.upstream_settle_s * 1000)
        )
        if attributed is not inc:
            log.warning(
                "%s follows bad input (%s, incident %s): root cause upstream_data",
                inc.incident_class,
                attributed.evidence["bad_input_class"],
                attributed.evidence["bad_input_incident"],
                extra={"incident_id": inc.incident_id},
            )
        return attributed

    def _acquire(self, inc: IncidentView) -> str | Decision:
        """The fingerprint's lock token, or what to make of the incident while another replica holds it.

        The holder is deciding (milliseconds) or has opened an episode: wait a moment for either, so a
        concurrent report is recorded on that episode instead of being lost between the two replicas.
        """
        deadline = time.monotonic() + self.settings.lock_wait_s
        while True:
            token = self.safety.acquire_lock(inc.fingerprint, self.settings.lock_ttl_s)
            if token is not None:
                return token
            decision = self._decide(inc)
            if decision.kind in ABSORBED:
                return decision
            if time.monotonic() >= deadline or self.stop.wait(0.05):
                return Decision(
                    "duplicate", "another replica owns this fingerprint", policy_version=self.policy.version
                )

    def _done(self, fut: Future[None]) -> None:
        with self._lock:
            self._futures.discard(fut)
        if fut.exception() is not None:
            log.error("healing episode crashed: %s", fut.exception())

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Wait until no episode runs (tests, shutdown)."""
        with self._lock:
            futures = list(self._futures)
        for f in futures:
            try:
                f.result(timeout=timeout_s)
            except Exception:
                return False
        return True

    def close(self) -> None:
        self.stop.set()
        self.executor.shutdown(wait=True, cancel_futures=False)
        self._lease_keeper.join(timeout=10)

    def _decide(self, inc: IncidentView) -> Decision:
        order = partial(thompson_order, stats=self.stats, rng=self.rng)
        return decide(
            inc,
            self.safety.get_state(inc.fingerprint),
            self.policy,
            self.allowed,
            self.settings.max_attempts,
            order_rung=lambda cls, steps: order(cls, steps),
            now_ms=now_ms(),
            cooldown_s=self.settings.cooldown_s,
        )

    # -- decisions without an episode ----------------------------------------------------------
    def _audit(
        self, inc: IncidentView, action_id: str, action: str, target: str, status: ActionStatus, **kw: Any
    ) -> None:
        self.auditor.action(action_event(self.settings.service_name, inc, action_id, action, target, status, **kw))

    def _refuse_bad(self, value: dict[str, Any], reason: str) -> Decision:
        INCIDENTS.labels("invalid").inc()
        inc = _bad_view(value)
        log.warning("refused an invalid incident: %s", reason, extra={"incident_id": inc.incident_id})
        self._audit(inc, derived_id("refusal", inc.event_id), "none", inc.service, "refused", reason=reason)
        return Decision("refuse", reason)

    def _absorb(self, inc: IncidentView, decision: Decision) -> Decision:
        """A report that starts no ladder: recorded on the open episode it updates, or counted as a duplicate."""
        INCIDENTS.labels(decision.kind).inc()
        self.safety.count_duplicate(inc.fingerprint)
        if decision.kind == "update" and decision.episode is not None:
            self._update(inc, decision, decision.episode)
            return decision
        self.auditor.sighting(inc)
        if decision.recurrence and self.safety.r.set(
            self.safety.key("recurrence", inc.fingerprint),
            inc.incident_id,
            nx=True,
            px=int(self.settings.cooldown_s * 1000) or 1,
        ):  # audit the first recurrence in a cooldown once; the rest are counted
            self.auditor.incident(inc, now_ms(), decision.policy_version)
            self._audit(
                inc, derived_id("recurrence", inc.event_id), "none", inc.service, "refused", reason=decision.reason
            )
        return decision

    def _update(self, inc: IncidentView, decision: Decision, episode: FingerprintState) -> None:
        """Record a new report of the problem on the open incident: its count and last_seen in the audit rows,
        and an ``updated`` action on `actions` (repeats of one report at most every update_interval_s)."""
        if inc.incident_id == episode.incident_id:
            self.auditor.sighting(inc)
        else:
            first = self.safety.first_merge(episode.incident_id, inc.incident_id)
            self.auditor.merge(episode.incident_id, inc, first)
        if not self.safety.update_due(episode.incident_id, inc.incident_id, self.settings.update_interval_s):
            return
        seen = datetime.fromtimestamp(inc.last_seen / 1000, UTC).isoformat(timespec="seconds")
        self._audit(
            replace(inc, incident_id=episode.incident_id),
            derived_id("update", inc.event_id),
            "none",
            inc.service,
            "updated",
            reason=f"reported again as incident {inc.incident_id} ({inc.count} time(s), last seen {seen}); "
            f"{decision.reason}, so no new action",
            detail={
                "reported_incident_id": inc.incident_id,
                "count": str(inc.count),
                "last_seen_ms": str(inc.last_seen),
                "episode_status": episode.status,
            },
        )

    def _finish_without_action(self, inc: IncidentView, decision: Decision) -> None:
        status: EpisodeStatus = "refused" if decision.kind == "refuse" else "ignored"
        self._audit_refusals(inc, decision.refusals, inc.event_id)
        if not decision.refusals:
            self._audit(
                inc,
                derived_id("refusal", inc.event_id),
                "none",
                inc.service,
                "refused" if status == "refused" else "resolved",
                reason=decision.reason,
            )
        if status == "refused" and any(p.action == "alert" for p in decision.plan):
            subject, text = incident_alert(inc, "the healer refused to act", decision.reason)
            self.alerter.send(subject, text)
        self.auditor.close(inc.incident_id, status, now_ms(), None, None)
        self.safety.set_state(inc.fingerprint, FingerprintState(inc.incident_id, status, now_ms()))

    # -- the episode ---------------------------------------------------------------------------
    def _episode(self, inc: IncidentView, decision: Decision, token: str, received_ms: int) -> None:
        final: EpisodeStatus = "escalated"
        try:
            final = self._climb(inc, decision, received_ms, token)
        except Exception as exc:
            log.exception("healing episode for %s failed", inc.incident_id)
            self._escalate(inc, decision, f"the healer failed while acting: {exc}", received_ms)
        finally:
            with self._lock:
                self._leases.pop(inc.fingerprint, None)
            if final == "acting":  # interrupted by shutdown: the journal keeps it for the next replica
                self.safety.clear_state(inc.fingerprint)
            else:
                self.safety.set_state(inc.fingerprint, FingerprintState(inc.incident_id, final, now_ms()))
                self.safety.drop_episode(inc.fingerprint)
            self.safety.release_lock(inc.fingerprint, token)

    def _climb(self, inc: IncidentView, decision: Decision, received_ms: int, token: str) -> EpisodeStatus:
        """Try the plan's steps in order until one ends the episode; a human gets it when none fixed it."""
        climb = _Climb(inc, decision, received_ms, token)
        self._audit_refusals(inc, decision.refusals, inc.incident_id)
        if self.settings.dry_run:
            return self._dry_run(inc, decision, climb.ttd)
        self._announce(inc, decision)
        for step in decision.plan:
            end = self._step(climb, step)
            if end is not None:
                return end
        return self._escalate(inc, decision, _why_human(climb.attempt, climb.last_failure), received_ms)

    def _audit_refusals(self, inc: IncidentView, refusals: Iterable[Refusal], id_basis: str) -> None:
        """Audit each step the decision refused (e.g. a target outside the allowlist)."""
        for r in refusals:
            refusal_id = derived_id(f"refusal:{r.action}:{r.target}", id_basis)
            self._audit(inc, refusal_id, r.action, r.target, "refused", reason=r.reason)

    def _announce(self, inc: IncidentView, decision: Decision) -> None:
        """Tell humans healing started, with its plan, when the policy rule asks for it."""
        if not decision.notify:
            return
        plan = " -> ".join(f"{p.action}({p.target})" for p in decision.plan)
        subject, text = incident_alert(inc, "automatic healing started", f"Plan: {plan}")
        self.alerter.send(subject, text)

    def _step(self, climb: _Climb, step: PlannedStep) -> StepEnd:
        """One step of the plan, within the safety rails: cooldown first, then the global budget."""
        if self.stop.is_set():
            return "acting"  # shutdown: the episode stays open for a redelivered copy
        self._hold(climb)
        if step.action == "alert":
            why = _why_human(climb.attempt, climb.last_failure, climb.inc)
            return self._escalate(climb.inc, climb.decision, why, climb.received_ms, step)
        climb.attempt += 1
        action_id = derived_id(f"action:{climb.attempt}:{step.action}:{step.target}", climb.inc.incident_id)
        if not self._cooldown_taken(climb, step, action_id):
            return self._verify_recent_run(climb, step, action_id)
        if not self._budget_taken(climb, step, action_id):
            return self._escalate(climb.inc, climb.decision, "the global action budget is spent", climb.received_ms)
        return self._act(climb, step, action_id)

    def _hold(self, climb: _Climb) -> None:
        """Keep the fingerprint's lock and its ``acting`` state alive while the episode climbs."""
        s, inc = self.settings, climb.inc
        self.safety.refresh_lock(inc.fingerprint, climb.token, s.lock_ttl_s)
        self.safety.set_state(
            inc.fingerprint, FingerprintState(inc.incident_id, "acting", now_ms()), ttl_s=s.lock_ttl_s
        )

    def _cooldown_taken(self, climb: _Climb, step: PlannedStep, action_id: str) -> bool:
        """Whether the step's action may run: its cooldown is this episode's already, or starts now."""
        key = (step.target, step.action)
        if key in climb.cooled:
            return True
        if not self._take_cooldown(climb.inc, step, action_id):
            return False
        climb.cooled.add(key)
        return True

    def _verify_recent_run(self, climb: _Climb, step: PlannedStep, action_id: str) -> StepEnd:
        """The step's action is cooling down: resolved when its recent run is proved to fix this incident too."""
        vr, climb.last_failure = self._in_cooldown(climb.inc, step, action_id, climb.attempt)
        if vr is not None and vr.ok:
            return self._resolved(climb, step, action_id, vr, {})
        return None

    def _budget_taken(self, climb: _Climb, step: PlannedStep, action_id: str) -> bool:
        """Spend one action of the budget every replica shares; audit the refusal when it is spent."""
        s = self.settings
        if self.safety.take_budget(now_ms(), s.budget_window_s, s.budget_max_actions):
            return True
        spent = f"global budget of {s.budget_max_actions} actions per {s.budget_window_s:g} s spent"
        self._audit(climb.inc, action_id, step.action, step.target, "refused", attempt=climb.attempt, reason=spent)
        return False

    def _act(self, climb: _Climb, step: PlannedStep, action_id: str) -> StepEnd:
        """Execute the step's action, then verify it unless it was refused or failed outright."""
        inc, attempt = climb.inc, climb.attempt
        self._audit(
            inc,
            action_id,
            step.action,
            step.target,
            "executed",
            attempt=attempt,
            reason=climb.decision.reason,
            time_to_detect_ms=climb.ttd,
        )
        started = now_ms()
        result = self._execute(inc, step, action_id, attempt)
        if result is None:  # refused: the target does not exist
            climb.last_failure = f"{step.action} on {step.target} was refused: the target does not exist"
            return None
        if not result.ok:
            failure = result.error or "the action failed"
            self._outcome(inc, step, action_id, False, failure, started, now_ms())
            self._failed(climb, step, action_id, failure, result.error, result.detail)
            return None
        return self._verify(climb, step, action_id, started, result)

    def _verify(self, climb: _Climb, step: PlannedStep, action_id: str, started: int, result: ActionResult) -> StepEnd:
        """Watch whether the action fixed the incident; the learner and the audit hear either way."""
        vr = self.verifier.verify(climb.inc, step, started, result.command_id)
        self._outcome(climb.inc, step, action_id, vr.ok, vr.detail, started, vr.verified_ms)
        if vr.ok:
            return self._resolved(climb, step, action_id, vr, result.detail)
        self._failed(climb, step, action_id, vr.detail, vr.detail, {**result.detail, **vr.evidence})
        return None

    def _failed(
        self, climb: _Climb, step: PlannedStep, action_id: str, failure: str, reason: str, detail: dict[str, str]
    ) -> None:
        """Audit a step that did not fix the incident, keep why for the human, and back off before the next."""
        climb.last_failure = failure
        self._audit(
            climb.inc,
            action_id,
            step.action,
            step.target,
            "failed",
            attempt=climb.attempt,
            reason=reason,
            detail=detail,
        )
        self._backoff(climb.attempt)

    def _take_cooldown(self, inc: IncidentView, step: PlannedStep, action_id: str) -> bool:
        """Start the step's cooldown, or find it held by this very step (an episode taken over after a
        shutdown): its command is sent again with the same id, which the trainer answers only once."""
        holder = CooldownHolder(inc.fingerprint, inc.incident_id, action_id)
        if self.safety.take_cooldown(step.target, step.action, self.settings.cooldown_s, holder):
            return True
        return self.safety.cooldown_holder(step.target, step.action) == holder

    def _in_cooldown(
        self, inc: IncidentView, step: PlannedStep, action_id: str, attempt: int
    ) -> tuple[VerifyResult | None, str]:
        """The step's action ran recently: verify that run for this incident only where its effect is shared.

        A restart or a quarantine changes the target for every incident, so its run can be checked for
        this one too. A model answers only the command that asked for it, so another incident's retrain
        or rollback is never taken as this one's fix; nor is a run for this same problem, which came back.
        """
        s = self.settings
        left_ms = self.safety.cooldown_left_ms(step.target, step.action)
        holder = self.safety.cooldown_holder(step.target, step.action)
        ran = f"cooldown: {step.action} on {step.target} ran recently ({left_ms / 1000:.0f} s left)"
        whose = f" for incident {holder.incident_id}" if holder is not None else ""
        if holder is not None and holder.fingerprint == inc.fingerprint:
            reason = f"{ran}{whose} of this same problem, which came back; not repeating it"
        elif step.verify in ANSWERED_VERIFICATIONS:
            reason = (
                f"{ran}{whose}; a model answers only the command that asked for it, "
                "so that run is not taken as this incident's fix"
            )
        else:
            self._audit(
                inc,
                action_id,
                step.action,
                step.target,
                "refused",
                attempt=attempt,
                reason=f"{ran}{whose}; verifying that run instead",
            )
            ran_ms = now_ms() - int(s.cooldown_s * 1000 - left_ms)
            vr = self.verifier.verify(inc, step, ran_ms)
            return vr, vr.detail
        self._audit(inc, action_id, step.action, step.target, "refused", attempt=attempt, reason=reason)
        return None, reason

    def _resolved(
        self, climb: _Climb, step: PlannedStep, action_id: str, vr: VerifyResult, detail: dict[str, str]
    ) -> EpisodeStatus:
        """Audit the step that fixed the incident and close the episode."""
        inc, attempt, ttd = climb.inc, climb.attempt, climb.ttd
        ttr = vr.verified_ms - inc.first_seen
        self._audit(
            inc,
            action_id,
            step.action,
            step.target,
            "succeeded",
            attempt=attempt,
            reason=vr.detail,
            detail={**detail, **vr.evidence},
            time_to_detect_ms=ttd,
            time_to_recover_ms=ttr,
        )
        self._audit(
            inc,
            derived_id("resolved", inc.incident_id),
            step.action,
            step.target,
            "resolved",
            attempt=attempt,
            reason=f"fixed by {step.action}; {vr.detail}",
            time_to_detect_ms=ttd,
            time_to_recover_ms=ttr,
        )
        RECOVERY.labels(inc.type).observe(ttr / 1000)
        self.auditor.close(inc.incident_id, "resolved", vr.verified_ms, ttd, ttr)
        if climb.decision.notify:
            subject, text = incident_alert(
                inc, "resolved", f"Fixed by {step.action} on {step.target} in {ttr / 1000:.1f} s. {vr.detail}"
            )
            self.alerter.send(subject, text)
        return "resolved"

    def _execute(self, inc: IncidentView, step: PlannedStep, action_id: str, attempt: int) -> ActionResult | None:
        ctx = ActionContext(
            settings=self.settings,
            incident=inc,
            step=step,
            action_id=action_id,
            attempt=attempt,
            # Signed as it leaves, after the action's last change to it: what is signed is what is sent.
            publish_command=lambda record: self.publish(
                "commands", sign_command(record, self.settings), record["target"]
            ),
            docker=self.docker,
            safety=self.safety,
            alerter=self.alerter,
        )
        try:
            return get_action(step.action).execute(ctx)
        except TargetMissing as exc:
            self._audit(inc, action_id, step.action, step.target, "refused", attempt=attempt, reason=str(exc))
            return None
        except Exception as exc:  # the action's dependency failed: recorded, then up the ladder
            log.warning("action %s on %s failed: %s", step.action, step.target, exc)
            return ActionResult(False, {}, f"{type(exc).__name__}: {exc}")

    def _outcome(
        self, inc: IncidentView, step: PlannedStep, action_id: str, ok: bool, detail: str, started: int, verified: int
    ) -> None:
        self.stats.record(inc.incident_class, step.action, ok)
        self.auditor.outcome(inc, action_id, step.action, step.target, ok, step.verify, detail, started, verified)

    def _backoff(self, attempt: int) -> None:
        self.stop.wait(backoff_delay(attempt, self.settings.backoff_base_s, self.settings.backoff_max_s))

    def _dry_run(self, inc: IncidentView, decision: Decision, ttd: int) -> EpisodeStatus:
        for i, step in enumerate(decision.plan, start=1):
            verb = "alert a human" if step.action == "alert" else f"{step.action} {step.target}"
            self._audit(
                inc,
                derived_id(f"dry:{i}:{step.action}:{step.target}", inc.incident_id),
                step.action,
                step.target,
                "dry_run",
                attempt=i,
                dry_run=True,
                time_to_detect_ms=ttd,
                reason=f"dry run: would {verb} (rung {step.rung + 1}), then verify by {step.verify}",
            )
        self.auditor.close(inc.incident_id, "dry_run", now_ms(), ttd, None)
        return "dry_run"

    def _escalate(
        self, inc: IncidentView, decision: Decision, why: str, received_ms: int, step: PlannedStep | None = None
    ) -> EpisodeStatus:
        alert = PlannedStep(
            "alert",
            HUMAN,
            "none",
            0.0,
            rung=step.rung if step else -1,
            params={**(step.params if step else {}), "note": f"Why: {why}."},
        )
        action_id = derived_id("escalated", inc.incident_id)
        result = self._execute(inc, alert, action_id, 0) or ActionResult(False, {}, "alert refused")
        self._audit(
            inc,
            action_id,
            "alert",
            HUMAN,
            "escalated",
            reason=why,
            detail=result.detail,
            time_to_detect_ms=received_ms - inc.first_seen,
        )
        self.auditor.close(inc.incident_id, "escalated", now_ms(), received_ms - inc.first_seen, None)
        return "escalated"

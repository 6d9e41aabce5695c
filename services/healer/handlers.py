"""Pure decision logic: an incident and what is known about its fingerprint -> a decision.

No I/O here: the engine feeds the state it read from Redis and executes what is decided, so
every rule of the healer's judgement is unit-testable with plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast, get_args

from services.common.incidents import INCIDENT_TYPES, MODEL_SIDE_TYPES, UPSTREAM_DATA
from services.common.incidents import is_bad_input as incident_is_bad_input
from services.healer.policy import Policy, Step

HUMAN = "human"
REQUIRED_FIELDS = ("incident_id", "fingerprint", "type", "service", "first_seen")


class BadIncident(ValueError):
    """The incident cannot be acted upon; the message says why (it is audited as a refusal)."""


@dataclass(frozen=True)
class IncidentView:
    """The fields of an Incident event the healer relies on, validated."""

    event_id: str
    incident_id: str
    fingerprint: str
    type: str
    root_cause: str | None
    service: str
    target: str | None
    severity: str
    summary: str
    explanation: str
    count: int
    first_seen: int
    last_seen: int
    ts: int
    evidence: dict[str, str] = field(default_factory=dict)

    @property
    def incident_class(self) -> str:
        """What the learner keys success statistics by."""
        return f"{self.type}/{self.root_cause or '-'}"


def validate_incident(value: dict[str, Any]) -> IncidentView:
    """Check the fields a decision needs; raise :class:`BadIncident` naming what is wrong."""
    missing = [f for f in REQUIRED_FIELDS if value.get(f) in (None, "")]
    if missing:
        raise BadIncident(f"incident is missing {', '.join(missing)}")
    type_ = str(value["type"])
    if type_ not in INCIDENT_TYPES:
        raise BadIncident(f"unknown incident type {type_!r} (known: {', '.join(sorted(INCIDENT_TYPES))})")
    try:
        first_seen = int(value["first_seen"])
        last_seen = int(value.get("last_seen") or first_seen)
        ts = int(value.get("ts") or last_seen)
        count = int(value.get("count") or 1)
    except (TypeError, ValueError) as exc:
        raise BadIncident(f"incident has a non-numeric time or count: {exc}") from None
    return IncidentView(
        event_id=str(value.get("event_id") or value["incident_id"]),
        incident_id=str(value["incident_id"]),
        fingerprint=str(value["fingerprint"]),
        type=type_,
        root_cause=value.get("root_cause") or None,
        service=str(value["service"]),
        target=value.get("target") or None,
        severity=str(value.get("severity") or "warning"),
        summary=str(value.get("summary") or ""),
        explanation=str(value.get("explanation") or ""),
        count=count,
        first_seen=first_seen,
        last_seen=last_seen,
        ts=ts,
        evidence={str(k): str(v) for k, v in (value.get("evidence") or {}).items()},
    )


def is_bad_input(incident: IncidentView) -> bool:
    return incident_is_bad_input(incident.type, incident.root_cause)


@dataclass(frozen=True)
class BadInputNote:
    """The newest report of bad input any replica has seen (shared in Redis)."""

    incident_id: str
    incident_class: str
    last_seen: int  # epoch ms of its newest report

    def to_dict(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "incident_class": self.incident_class, "last_seen": self.last_seen}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BadInputNote:
        return cls(str(data["incident_id"]), str(data["incident_class"]), int(data["last_seen"]))


def attribute_to_bad_input(incident: IncidentView, note: BadInputNote | None, settle_ms: int) -> IncidentView:
    """A drift that starts while bad input is reported, or within ``settle_ms`` of its last report, is
    taken as its echo: root cause ``upstream_data``, with the bad-input incident as evidence.

    Bad records change what the model sees beyond the records themselves: dead-lettered events thin
    the windowed counts, and a quarantined ingest replays its backlog in a burst when it resumes.
    Retraining on that would teach the model the fault, so such a drift goes to a human. A drift
    that already has a root cause, or starts after the settle time, is judged on its own.
    """
    if incident.type not in MODEL_SIDE_TYPES or incident.root_cause or note is None:
        return incident
    if note.incident_id == incident.incident_id or incident.first_seen > note.last_seen + settle_ms:
        return incident
    evidence = {
        **incident.evidence,
        "bad_input_incident": note.incident_id,
        "bad_input_class": note.incident_class,
        "bad_input_last_seen_ms": str(note.last_seen),
    }
    return replace(incident, root_cause=UPSTREAM_DATA, evidence=evidence)


# The healer's statuses, as written to Kafka, PostgreSQL and Redis. Typed here, where engine, audit and
# verify all look them up, so a misspelt status fails the type check instead of a dashboard query.

# What the healer last did about a fingerprint. An open episode (acting, escalated) holds the
# fingerprint: further reports of the problem update it instead of starting another ladder.
EpisodeStatus = Literal["acting", "escalated", "resolved", "refused", "ignored", "dry_run"]
EPISODE_STATUSES: frozenset[str] = frozenset(get_args(EpisodeStatus))
OPEN_STATUSES: frozenset[EpisodeStatus] = frozenset({"acting", "escalated"})

# The status of one HealingAction: ``updated`` records a new report of a problem whose episode is open.
ActionStatus = Literal[
    "planned", "executed", "succeeded", "failed", "refused", "dry_run", "escalated", "resolved", "updated"
]

# What the trainer's ModelPublished answer to a command says (the trainer's ModelStatus): the proof a
# retrain or rollback worked, or why it did not.
ModelAnswerStatus = Literal["live", "rejected", "rolled_back", "refused"]


def episode_status(value: str) -> EpisodeStatus:
    if value not in EPISODE_STATUSES:
        raise ValueError(f"unknown episode status {value!r}; known: {', '.join(sorted(EPISODE_STATUSES))}")
    return cast(EpisodeStatus, value)


@dataclass(frozen=True)
class FingerprintState:
    """What the healer last did about a fingerprint (stored in Redis, shared by replicas)."""

    incident_id: str
    status: EpisodeStatus
    updated_ms: int

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "status": self.status, "updated_ms": self.updated_ms}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FingerprintState:
        return cls(str(raw["incident_id"]), episode_status(str(raw["status"])), int(raw["updated_ms"]))


@dataclass(frozen=True)
class PlannedStep:
    action: str
    target: str
    verify: str
    verify_timeout_s: float
    rung: int
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    action: str
    target: str
    reason: str


# act: climb the ladder; update: a new report of the problem an open episode owns (recorded on it);
# duplicate: a replay of an incident already handled, or a recurrence within the cooldown after the
# healer took no action; refuse / ignore: no action, audited.
DecisionKind = Literal["act", "update", "duplicate", "refuse", "ignore"]


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    reason: str
    plan: tuple[PlannedStep, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    notify: bool = False
    policy_version: str = ""
    recurrence: bool = False
    episode: FingerprintState | None = None  # for an update: the open episode it updates


RungOrder = Callable[[str, Sequence[Step]], Sequence[Step]]


def keep_order(_cls: str, steps: Sequence[Step]) -> Sequence[Step]:
    return steps


HARMLESS_ACTIONS = frozenset({"alert", "wait"})  # they touch nothing, so any target is allowed


def target_allowed(action: str, target: str, allowed: set[str]) -> bool:
    """Alerts go to humans and waiting touches nothing; everything else only to allowlisted targets."""
    return action in HARMLESS_ACTIONS or target in allowed


def decide(
    incident: IncidentView,
    state: FingerprintState | None,
    policy: Policy,
    allowed_targets: set[str],
    max_attempts: int,
    order_rung: RungOrder = keep_order,
    now_ms: int = 0,
    cooldown_s: float = 0.0,
) -> Decision:
    """Choose what to do about one incident, given what was already done about its fingerprint.

    While an episode is open (being healed, or escalated to a human) every report of the same
    problem updates it: the ladder is not climbed twice at once, and a human who holds it is not
    raced by the healer. After a resolved episode a fresh incident is the problem coming back and
    starts a new episode. After an episode that took no action (refused, ignored, dry run) a
    recurrence within the cooldown is a duplicate, so a flapping detector cannot flood the audit.
    """
    version = policy.version
    if state is not None:
        prior = against_prior_episode(incident, state, version, now_ms, cooldown_s)
        if prior is not None:
            return prior
    recurred = f"; it recurred after incident {state.incident_id} ended ({state.status})" if state else ""
    rule = policy.rule_for(incident.type, incident.root_cause, incident.service)
    if rule is None:
        return Decision(
            "refuse", f"no policy rule for {incident.incident_class} on {incident.service}", policy_version=version
        )
    if not rule.ladder:
        return Decision(
            "ignore", f"policy {version} takes no action on {incident.incident_class}", policy_version=version
        )
    plan: list[PlannedStep] = []
    refusals: list[Refusal] = []
    remedies = 0
    for rung_index, rung in enumerate(rule.ladder):
        for step in order_rung(incident.incident_class, rung):
            target = HUMAN if step.action == "alert" else step.resolve_target(incident.service, incident.target)
            if not target_allowed(step.action, target, allowed_targets):
                refusals.append(Refusal(step.action, target, f"target {target!r} is outside the allowlist"))
                continue
            for _ in range(step.attempts):
                if step.action != "alert":
                    if remedies >= max_attempts:
                        break
                    remedies += 1
                plan.append(
                    PlannedStep(
                        action=step.action,
                        target=target,
                        verify=step.verify,
                        verify_timeout_s=step.verify_timeout_s or policy.verify_timeout_s,
                        rung=rung_index,
                        params=dict(step.params),
                    )
                )
    if not any(p.action != "alert" for p in plan) and refusals:
        return Decision(
            "refuse", "; ".join(r.reason for r in refusals), tuple(plan), tuple(refusals), rule.notify, version
        )
    return Decision(
        "act", f"policy {version} rule {rule.index + 1}{recurred}", tuple(plan), tuple(refusals), rule.notify, version
    )


def against_prior_episode(
    incident: IncidentView, state: FingerprintState, version: str, now_ms: int, cooldown_s: float
) -> Decision | None:
    """What the fingerprint's last episode makes of this incident; ``None``: decide it afresh."""
    if state.is_open:
        holder = "being healed" if state.status == "acting" else "escalated to a human"
        return Decision(
            "update",
            f"incident {state.incident_id} with this fingerprint is {holder}",
            policy_version=version,
            episode=state,
        )
    if state.incident_id == incident.incident_id:
        return Decision(
            "duplicate", f"incident {incident.incident_id} was already handled ({state.status})", policy_version=version
        )
    if state.status == "resolved":
        return None
    if now_ms - state.updated_ms < cooldown_s * 1000:
        return Decision(
            "duplicate",
            f"recurred within the cooldown after incident {state.incident_id} ended ({state.status})",
            recurrence=True,
            policy_version=version,
        )
    return None

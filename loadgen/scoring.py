"""The demo's scorecard: what each fault class should raise, what would be a wrong answer, and the verdict.

Pure logic, no Kafka and no clock: incidents and healer actions come in as decoded records with
their arrival time (``_seen``, seconds on the caller's monotonic clock), scenario windows as
(start, end) on the same clock. Each record is attributed to the window it arrives in; an incident
re-sent with updates counts once, where it first arrived.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Record = Mapping[str, Any]

INFRA, BAD_INPUT, DRIFT = "infrastructure", "bad input", "drift"

# What a wrong answer is, by family: restarting never fixes data, retraining never fixes
# infrastructure, and retraining on bad input would teach the model the bad input.
WRONG_ACTIONS: dict[str, frozenset[str]] = {
    INFRA: frozenset({"retrain"}),
    BAD_INPUT: frozenset({"retrain", "restart_container"}),
    DRIFT: frozenset({"restart_container"}),
}
# Statuses that mean the healer ran (or, dry, would run) the action; a refusal is the guard working.
TAKEN = frozenset({"executed", "dry_run"})
FINAL = frozenset({"resolved", "escalated"})


@dataclass(frozen=True)
class Expected:
    """The incident a fault class must raise: its type, the accepted root causes, what it must name."""

    family: str
    type: str
    root_causes: frozenset[str] = frozenset()  # empty: any root cause
    on: str | None = None  # the incident's target or service must be this (a feature, a service, a dependency)
    wrong_causes: frozenset[str] = frozenset()  # root causes that misread the fault (drift blamed on bad data)

    def kind_matches(self, inc: Record) -> bool:
        """Type, and root cause where the class has one (a log_error says nothing without it)."""
        cause = inc.get("root_cause")
        return (
            inc.get("type") == self.type
            and (not self.root_causes or cause in self.root_causes)
            and cause not in self.wrong_causes
        )

    def on_matches(self, inc: Record) -> bool:
        return self.on is None or self.on in (inc.get("target"), inc.get("service"))

    def describe(self) -> str:
        cause = f" ({'/'.join(sorted(self.root_causes))})" if self.root_causes else ""
        cause += f" (not {'/'.join(sorted(self.wrong_causes))})" if self.wrong_causes else ""
        return f"{self.type}{cause}{' on ' + self.on if self.on else ''}"


# The one table of expectations. A contract break is dead-lettered at ingest, and each dead letter
# is a WARNING log line: the log-classifier turns a burst of them into a log_error on ingest
# (schema_mismatch for bytes that are not Avro; data_quality for values outside the contract).
EXPECTED: dict[str, Expected] = {
    "crash": Expected(INFRA, "service_down", on="inference"),
    "hang": Expected(INFRA, "service_hung", on="inference"),
    "dependency": Expected(INFRA, "log_error", frozenset({"dependency_unavailable"}), on="redis"),
    "contract_break": Expected(BAD_INPUT, "log_error", frozenset({"schema_mismatch", "data_quality"}), on="ingest"),
    "null_burst": Expected(BAD_INPUT, "data_quality", on="skill_match"),
    "unit_change": Expected(BAD_INPUT, "skew", on="salary_k"),
    # A real change of the world is not bad input: blaming it on bad data (upstream_data) misreads it.
    "concept_drift": Expected(DRIFT, "concept_drift", wrong_causes=frozenset({"upstream_data"})),
    "feature_drift": Expected(DRIFT, "data_drift", on="distance_km", wrong_causes=frozenset({"upstream_data"})),
}


@dataclass(frozen=True)
class Window:
    """A stretch of the run: the calm phase (``fault`` None) or one fault, from its injection on."""

    name: str
    start: float
    end: float
    fault: str | None = None

    def holds(self, record: Record) -> bool:
        return self.start <= float(record["_seen"]) < self.end


@dataclass
class FaultScore:
    name: str
    fault: str
    expected: Expected
    skipped: str = ""  # why the fault was not played
    detected_s: float | None = None  # first incident of the expected kind (else the first incident)
    incident: Record | None = None  # the incident of the expected kind, if any
    first: Record | None = None  # the first incident of the window, of any kind
    on_ok: bool = False
    actions: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    outcome: str = "not detected"
    recovered_s: float | None = None
    others: list[str] = field(default_factory=list)  # incidents of the window besides the matched one

    @property
    def detected(self) -> bool:
        return self.first is not None

    @property
    def kind_ok(self) -> bool:
        return self.incident is not None

    @property
    def ok(self) -> bool:
        return not self.skipped and self.kind_ok and not self.wrong


@dataclass
class Scorecard:
    faults: list[FaultScore]
    calm: list[Record]  # incidents of the calm phase: every one is false
    calm_window: Window | None = None

    @property
    def ok(self) -> bool:
        return self.calm_window is not None and not self.calm and all(f.ok for f in self.faults)


def first_arrivals(incidents: Iterable[Record]) -> list[Record]:
    """Each incident once, at its first arrival (updates of an open incident repeat its id)."""
    seen: set[str] = set()
    out = []
    for inc in sorted(incidents, key=lambda r: float(r["_seen"])):
        key = str(inc.get("incident_id") or inc.get("event_id"))
        if key not in seen:
            seen.add(key)
            out.append(inc)
    return out


def label(inc: Record) -> str:
    where = inc.get("target") or inc.get("service")
    cause = f"/{inc['root_cause']}" if inc.get("root_cause") else ""
    return f"{inc.get('type')}{cause} on {where}"


def latest_per_action(actions: Iterable[Record]) -> list[Record]:
    """The last status of each action (an action is audited as executed, then succeeded or failed, ...)."""
    last: dict[str, Record] = {}
    for act in sorted(actions, key=lambda r: float(r["_seen"])):
        last[str(act.get("action_id") or act.get("event_id"))] = act
    return list(last.values())


def outcome_of(incident: Record, actions: Sequence[Record], injected: float) -> tuple[str, float | None]:
    """The healer's final word on one incident (by id, else by fingerprint), and the time to recover."""
    mine = [a for a in actions if a.get("incident_id") == incident.get("incident_id")]
    mine = mine or [a for a in actions if a.get("fingerprint") == incident.get("fingerprint")]
    mine.sort(key=lambda a: float(a["_seen"]))
    final = [a for a in mine if a.get("status") in FINAL]
    if final:
        act = final[0]
        if act["status"] == "resolved":
            how = f"by {act['action']}" if act.get("action") not in (None, "none") else "without action"
            return f"resolved {how}", float(act["_seen"]) - injected
        return f"escalated: {_short(act.get('reason'))}", None
    refused = [a for a in mine if a.get("status") == "refused"]
    if refused:
        return f"refused: {_short(refused[-1].get('reason'))}", None
    if mine and all(a.get("status") == "updated" for a in mine):  # folded into an episode already open
        return f"no action: {_short(mine[-1].get('reason'))}", None
    return ("healing" if mine else "no action"), None


def acted(incident: Record, actions: Sequence[Record]) -> bool:
    """Whether the healer did anything about the incident but note it as an update of an open episode."""
    return any(
        a["status"] != "updated"
        and (a["incident_id"] == incident["incident_id"] or a["fingerprint"] == incident["fingerprint"])
        for a in actions
    )


def final_word(incident: Record, actions: Sequence[Record], now: float, settle_s: float = 5.0) -> Record | None:
    """The healer's final word on an incident (or on one with its fingerprint), if any yet.

    Resolved or escalated is final. A refusal is final when nothing follows it for ``settle_s``:
    a refused plan (say, a target outside the allowlist) is not escalated, while a refusal inside
    an episode (a cooldown) is followed by a verification or the next rung at once.
    """
    mine = [
        a
        for a in actions
        if a["status"] != "updated"
        and (a["incident_id"] == incident["incident_id"] or a["fingerprint"] == incident["fingerprint"])
    ]
    for act in mine:
        if act["status"] in FINAL:
            return act
    if mine and mine[-1]["status"] == "refused" and now - mine[-1]["_seen"] >= settle_s:
        return mine[-1]
    return None


def score_fault(
    window: Window, incidents: Iterable[Record], actions: Iterable[Record], expected: Expected | None = None
) -> FaultScore:
    """Score one fault window against its class's expectation."""
    assert window.fault is not None, "a fault window names its fault class"
    exp = expected or EXPECTED[window.fault]
    score = FaultScore(window.name, window.fault, exp)
    mine = [i for i in first_arrivals(incidents) if window.holds(i)]
    acts = [a for a in actions if window.holds(a)]
    if mine:
        score.first = mine[0]
    kind = [i for i in mine if exp.kind_matches(i)]
    both = [i for i in kind if exp.on_matches(i)]
    matched = both or kind
    score.incident = matched[0] if matched else None
    shown = score.incident or score.first
    if shown is not None:
        score.detected_s = float(shown["_seen"]) - window.start
    score.on_ok = score.incident is not None and exp.on_matches(score.incident)
    score.others = [label(i) for i in mine if i is not score.incident]
    wrong_names = WRONG_ACTIONS[exp.family]
    for act in latest_per_action(acts):
        name = act.get("action")
        if name in (None, "none"):
            continue  # audit of a decision without an action (a duplicate, a refusal of bad input)
        score.actions.append(f"{name}->{act.get('target')} [{act.get('status')}]")
    for act in acts:
        text = f"{act.get('action')}->{act.get('target')}"
        if act.get("action") in wrong_names and act.get("status") in TAKEN and text not in score.wrong:
            score.wrong.append(text)
    if score.incident is not None:
        score.outcome, score.recovered_s = outcome_of(score.incident, acts, window.start)
    elif score.first is not None:
        score.outcome = "wrong incident type"
    return score


def skipped(name: str, fault: str, why: str) -> FaultScore:
    score = FaultScore(name, fault, EXPECTED[fault], skipped=why)
    score.outcome = f"skipped: {why}"
    return score


def scorecard(
    calm: Window | None,
    windows: Sequence[Window],
    incidents: Sequence[Record],
    actions: Sequence[Record],
    skips: Sequence[FaultScore] = (),
) -> Scorecard:
    """Every fault window scored, plus the calm phase's false incidents."""
    false = [i for i in first_arrivals(incidents) if calm.holds(i)] if calm else []
    faults = [score_fault(w, incidents, actions) for w in windows] + list(skips)
    order = list(EXPECTED)
    faults.sort(key=lambda f: order.index(f.fault) if f.fault in order else len(order))
    return Scorecard(faults, false, calm)


def render(card: Scorecard) -> list[str]:
    """The scorecard as text lines: one block per fault, the calm phase, the verdict."""
    lines = []
    for f in card.faults:
        verdict = "PASS" if f.ok else "FAIL"
        lines.append(f"{verdict} {f.name}  [{f.fault}, {f.expected.family}; expected {f.expected.describe()}]")
        if f.skipped:
            lines.append(f"     skipped: {f.skipped}")
            continue
        if not f.detected:
            lines.append("     not detected")
        else:
            got = f.incident or f.first
            assert got is not None
            lines.append(
                f"     detected after {f.detected_s:.1f} s: {label(got)}; type "
                f"{'ok' if f.kind_ok else 'WRONG'}, target {'ok' if f.on_ok else 'WRONG'}"
            )
        if f.others:
            lines.append(f"     other incidents: {', '.join(f.others)}")
        lines.append(f"     actions: {', '.join(f.actions) or 'none'}")
        if f.wrong:
            lines.append(f"     WRONG actions for {f.expected.family}: {', '.join(f.wrong)}")
        rec = f", recovered {f.recovered_s:.1f} s after the injection" if f.recovered_s is not None else ""
        lines.append(f"     outcome: {f.outcome}{rec}")
    if card.calm_window is None:
        lines.append("FAIL calm phase: not played")
    else:
        span = card.calm_window.end - card.calm_window.start
        lines.append(
            f"{'PASS' if not card.calm else 'FAIL'} calm phase ({span:.0f} s): {len(card.calm)} false incident(s)"
        )
        lines += [f"     false: {label(i)}: {_short(i.get('summary'), 100)}" for i in card.calm]
    passed = sum(f.ok for f in card.faults)
    lines.append(
        f"{'PASS' if card.ok else 'FAIL'}: {passed}/{len(card.faults)} faults detected with the right "
        f"type and no wrong action; {len(card.calm)} false incident(s) in calm"
    )
    return lines


def _short(text: object, n: int = 70) -> str:
    s = str(text or "").strip()
    return s if len(s) <= n else s[: n - 3] + "..."

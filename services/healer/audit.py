"""Audit trail: every decision as a HealingAction event on `actions`, every write as a record on `audit`, and
rows in PostgreSQL, the trail's projection (:mod:`services.healer.audit_log`).

Rows are written once per record, so a replayed incident leaves the trail unchanged. A database outage
never stops the healer from healing: the rows catch up from the topic when it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.common.events import derived_id, header
from services.healer import audit_log
from services.healer.audit_log import audit_record
from services.healer.handlers import ActionStatus, EpisodeStatus, IncidentView
from services.healer.metrics import AUDIT_DEFERRED, AUDIT_FAILURES, DECISIONS

log = logging.getLogger(__name__)


def action_event(
    source: str,
    incident: IncidentView,
    action_id: str,
    action: str,
    target: str,
    status: ActionStatus,
    *,
    attempt: int = 1,
    dry_run: bool = False,
    reason: str = "",
    detail: dict[str, str] | None = None,
    time_to_detect_ms: int | None = None,
    time_to_recover_ms: int | None = None,
) -> dict[str, Any]:
    """A HealingAction record; its id derives from (action id, status), so replays dedupe."""
    return {
        **header(source, event_id=derived_id(f"healing:{status}", action_id)),
        "action_id": action_id,
        "incident_id": incident.incident_id,
        "fingerprint": incident.fingerprint,
        "action": action,
        "target": target,
        "status": status,
        "attempt": attempt,
        "dry_run": dry_run,
        "reason": reason,
        "detail": {str(k): str(v) for k, v in (detail or {}).items()},
        "time_to_detect_ms": time_to_detect_ms,
        "time_to_recover_ms": time_to_recover_ms,
    }


def render_postmortem(incident: dict[str, Any], actions: list[dict[str, Any]], outcomes: list[dict[str, Any]]) -> str:
    """A markdown postmortem from the audit rows: timeline, evidence, cause, actions, recovery, lessons."""

    def when(value: Any) -> str:
        return value.isoformat(timespec="milliseconds") if isinstance(value, datetime) else str(value or "-")

    ttr = incident.get("time_to_recover_ms")
    ttd = incident.get("time_to_detect_ms")
    lines = [
        f"# Postmortem: {incident['type']} on {incident['service']}",
        "",
        f"- Incident: `{incident['incident_id']}` (fingerprint `{incident['fingerprint']}`)",
        f"- Status: **{incident['status']}**",
        f"- Severity: {incident.get('severity', '')}",
        f"- Time to detect: {f'{ttd / 1000:.2f} s' if ttd is not None else 'n/a'}",
        f"- Time to recover: {f'{ttr / 1000:.2f} s' if ttr is not None else 'not recovered'}",
        "",
        "## Summary",
        "",
        incident.get("summary") or "(none)",
        "",
        incident.get("explanation") or "",
        "",
        "## Root cause",
        "",
        f"{incident.get('root_cause') or 'not determined'}"
        + (f" (target: {incident['target']})" if incident.get("target") else ""),
        "",
        "## Evidence",
        "",
    ]
    evidence = incident.get("evidence") or {}
    lines += [f"- {k}: {v}" for k, v in sorted(evidence.items())] or ["- (none recorded)"]
    lines += [
        "",
        "## Timeline",
        "",
        f"- {when(incident.get('first_seen'))}: first seen",
        f"- {when(incident.get('received_at'))}: received by the healer",
    ]
    for a in actions:
        reason = f": {a['reason']}" if a.get("reason") else ""
        lines.append(
            f"- {when(a.get('ts'))}: {a['action']} on {a['target']} {a['status']} (attempt {a['attempt']}){reason}"
        )
    if incident.get("resolved_at"):
        lines.append(f"- {when(incident['resolved_at'])}: {incident['status']}")
    lines += ["", "## Actions", "", "| action | target | outcome | verification |", "|---|---|---|---|"]
    for o in outcomes:
        lines.append(f"| {o['action']} | {o['target']} | {'fixed' if o['success'] else 'not fixed'} | {o['detail']} |")
    if not outcomes:
        lines.append("| (none executed) | | | |")
    lines += ["", "## What was learned", ""]
    for o in outcomes:
        verdict = "worked" if o["success"] else "did not work"
        lines.append(
            f"- {o['action']} {verdict} for {o['incident_class']} in {o['duration_ms'] / 1000:.1f} s; "
            "the learner's success statistics for this pair were updated."
        )
    if not outcomes:
        lines.append("- No action was executed, so no statistics changed.")
    return "\n".join(lines) + "\n"


class Auditor:
    """Publishes HealingAction events and the audit trail's records, and applies the records to the tables.

    Every write is first an AuditRecord on `audit` (the trail itself), then applied at once when the
    database answers within ``direct_timeout_s``. When it does not, the healer goes on healing: that
    incident's writes are left to the audit sink (:mod:`services.healer.audit_log`), which replays the
    topic, in order per incident, once PostgreSQL is back. An incident with writes still waiting for the
    sink has its next writes left to the sink too, so its rows are never written out of order; after a
    failure no write is tried at once for ``retry_after_s`` (an outage costs one timeout, not one per write).
    """

    def __init__(
        self,
        publish: Callable[[str, dict[str, Any], str | None], None],
        pool: Any | None,
        *,
        source: str = "healer",
        direct_timeout_s: float = 2.0,
        retry_after_s: float = 5.0,
    ) -> None:
        self.publish = publish
        self.pool = pool
        self.source = source
        self.direct_timeout_s = direct_timeout_s
        self.retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._waiting: dict[str, str] = {}  # incident id -> its newest record left to the sink
        self._retry_at = 0.0

    def _write(self, op: str, incident_id: str, args: dict[str, Any]) -> None:
        record = audit_record(self.source, op, incident_id, args)
        self.publish("audit", record, incident_id)  # the trail: from here on the write cannot be lost
        if self.pool is not None:
            with self._lock:
                self._apply_now(op, incident_id, record)

    def _apply_now(self, op: str, incident_id: str, record: dict[str, Any]) -> None:
        assert self.pool is not None
        waiting = self._waiting.get(incident_id)
        if time.monotonic() < self._retry_at:
            self._waiting[incident_id] = record["event_id"]
            AUDIT_DEFERRED.labels(op).inc()
            return
        try:
            with self.pool.connection(timeout=self.direct_timeout_s) as conn:
                if waiting is not None and not audit_log.applied(conn, waiting):
                    self._waiting[incident_id] = record["event_id"]  # keep the incident's order: the sink
                    AUDIT_DEFERRED.labels(op).inc()
                    return
                self._waiting.pop(incident_id, None)
                audit_log.apply(conn, record)
        except audit_log.DB_UNAVAILABLE as exc:
            self._retry_at = time.monotonic() + self.retry_after_s
            self._waiting[incident_id] = record["event_id"]
            AUDIT_DEFERRED.labels(op).inc()
            log.warning("audit %s left to the audit sink, PostgreSQL did not answer: %s", op, exc)
        except Exception as exc:  # a row the database refuses: the sink dead-letters the record with the reason
            AUDIT_FAILURES.labels(op).inc()
            log.error("audit %s not applied: %s", op, exc)

    def incident(self, inc: IncidentView, received_ms: int, policy_version: str) -> None:
        self._write(
            "incident",
            inc.incident_id,
            {
                "event_id": inc.event_id,
                "fingerprint": inc.fingerprint,
                "type": inc.type,
                "root_cause": inc.root_cause,
                "service": inc.service,
                "target": inc.target,
                "severity": inc.severity,
                "summary": inc.summary,
                "explanation": inc.explanation,
                "count": inc.count,
                "evidence": inc.evidence,
                "first_seen_ms": inc.first_seen,
                "last_seen_ms": inc.last_seen,
                "received_ms": received_ms,
                "policy_version": policy_version,
            },
        )

    def sighting(self, inc: IncidentView) -> None:
        """A repeat of a known incident: keep its count and last_seen current."""
        self._write("sighting", inc.incident_id, {"count": inc.count, "last_seen_ms": inc.last_seen})

    def merge(self, open_incident_id: str, inc: IncidentView, first: bool) -> None:
        """Another incident of the problem an open episode owns: its reports add to the open incident's count
        (once per reported incident) and move its last_seen."""
        added = inc.count if first else 0
        self._write("merge", open_incident_id, {"count_added": added, "last_seen_ms": inc.last_seen})

    def action(self, event: dict[str, Any]) -> None:
        self.publish("actions", event, event["incident_id"])
        DECISIONS.labels(event["action"], event["status"]).inc()
        log.info(
            "healing %s %s on %s: %s",
            event["action"],
            event["status"],
            event["target"],
            event["reason"],
            extra={"incident_id": event["incident_id"], "action_id": event["action_id"]},
        )
        self._write("action", event["incident_id"], dict(event))

    def outcome(
        self,
        inc: IncidentView,
        action_id: str,
        action: str,
        target: str,
        success: bool,
        verification: str,
        detail: str,
        started_ms: int,
        verified_ms: int,
    ) -> None:
        self._write(
            "outcome",
            inc.incident_id,
            {
                "outcome_id": derived_id("outcome", action_id),
                "action_id": action_id,
                "incident_class": inc.incident_class,
                "action": action,
                "target": target,
                "success": success,
                "verification": verification,
                "detail": detail,
                "started_ms": started_ms,
                "verified_ms": verified_ms,
            },
        )

    def close(self, incident_id: str, status: EpisodeStatus, closed_ms: int, ttd: int | None, ttr: int | None) -> None:
        """Close the incident; its postmortem is rendered from its rows where the write is applied."""
        self._write("close", incident_id, {"status": status, "closed_ms": closed_ms, "ttd": ttd, "ttr": ttr})

    # -- reads (HTTP API) -----------------------------------------------------------------------
    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        if self.pool is None:
            return []
        from psycopg.rows import dict_row

        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def list_incidents(self, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
        cols = """incident_id, fingerprint, type, root_cause, service, target, severity, summary, count, status,
                  first_seen, received_at, resolved_at, time_to_detect_ms, time_to_recover_ms, policy_version"""
        if status:
            return self._rows(
                f"SELECT {cols} FROM incidents WHERE status = %s ORDER BY received_at DESC LIMIT %s",  # noqa: S608 - constant columns
                (status, limit),
            )
        return self._rows(f"SELECT {cols} FROM incidents ORDER BY received_at DESC LIMIT %s", (limit,))  # noqa: S608

    def incident_row(self, incident_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM incidents WHERE incident_id = %s", (incident_id,))
        return rows[0] if rows else None

    def postmortem(self, incident_id: str) -> str | None:
        return postmortem_from(self._rows, incident_id)


def postmortem_from(fetch: Callable[[str, tuple[Any, ...]], list[dict[str, Any]]], incident_id: str) -> str | None:
    """The postmortem of an incident from its rows, read through ``fetch`` (a pool's, or a transaction's)."""
    incidents = fetch("SELECT * FROM incidents WHERE incident_id = %s", (incident_id,))
    if not incidents:
        return None
    actions = fetch("SELECT * FROM actions WHERE incident_id = %s ORDER BY ts, attempt", (incident_id,))
    outcomes = fetch("SELECT * FROM outcomes WHERE incident_id = %s ORDER BY started_at", (incident_id,))
    return render_postmortem(incidents[0], actions, outcomes)

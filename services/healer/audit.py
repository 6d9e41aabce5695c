"""Audit trail: every decision as a HealingAction event on `actions` and rows in PostgreSQL.

Rows are written idempotently by event id, so a replayed incident leaves the trail unchanged.
A database outage is logged and counted; it never stops the healer from healing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.common.events import derived_id, header
from services.healer.handlers import ActionStatus, EpisodeStatus, IncidentView
from services.healer.metrics import AUDIT_FAILURES, DECISIONS

log = logging.getLogger(__name__)


def ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


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
    """Publishes HealingAction events and writes the audit rows."""

    def __init__(self, publish: Callable[[str, dict[str, Any], str | None], None], pool: Any | None) -> None:
        self.publish = publish
        self.pool = pool

    def _exec(self, table: str, sql: str, params: tuple[Any, ...]) -> None:
        if self.pool is None:
            return
        try:
            with self.pool.connection() as conn:
                conn.execute(sql, params)
        except Exception as exc:  # a DB outage must not stop healing; it is counted and logged
            AUDIT_FAILURES.labels(table).inc()
            log.error("audit write to %s failed: %s", table, exc)

    def incident(self, inc: IncidentView, received_ms: int, policy_version: str) -> None:
        self._exec(
            "incidents",
            """INSERT INTO incidents (incident_id, event_id, fingerprint, type, root_cause, service, target,
                 severity, summary, explanation, count, evidence, first_seen, last_seen, received_at, policy_version)
               VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (incident_id) DO NOTHING""",
            (
                inc.incident_id,
                inc.event_id,
                inc.fingerprint,
                inc.type,
                inc.root_cause,
                inc.service,
                inc.target,
                inc.severity,
                inc.summary,
                inc.explanation,
                inc.count,
                json.dumps(inc.evidence),
                ts(inc.first_seen),
                ts(inc.last_seen),
                ts(received_ms),
                policy_version,
            ),
        )

    def sighting(self, inc: IncidentView) -> None:
        """A repeat of a known incident: keep its count and last_seen current."""
        self._exec(
            "incidents",
            """UPDATE incidents SET count = GREATEST(count, %s), last_seen = GREATEST(last_seen, %s)
               WHERE incident_id = %s""",
            (inc.count, ts(inc.last_seen), inc.incident_id),
        )

    def merge(self, open_incident_id: str, inc: IncidentView, first: bool) -> None:
        """Another incident of the problem an open episode owns: its reports add to the open incident's count
        (once per reported incident) and move its last_seen."""
        self._exec(
            "incidents",
            """UPDATE incidents SET count = count + %s, last_seen = GREATEST(last_seen, %s) WHERE incident_id = %s""",
            (inc.count if first else 0, ts(inc.last_seen), open_incident_id),
        )

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
        self._exec(
            "actions",
            """INSERT INTO actions (event_id, action_id, incident_id, fingerprint, action, target, status, attempt,
                 dry_run, reason, detail, ts, time_to_detect_ms, time_to_recover_ms)
               VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (event_id) DO NOTHING""",
            (
                event["event_id"],
                event["action_id"],
                event["incident_id"],
                event["fingerprint"],
                event["action"],
                event["target"],
                event["status"],
                event["attempt"],
                event["dry_run"],
                event["reason"],
                json.dumps(event["detail"]),
                ts(event["ts"]),
                event["time_to_detect_ms"],
                event["time_to_recover_ms"],
            ),
        )

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
        self._exec(
            "outcomes",
            """INSERT INTO outcomes (outcome_id, action_id, incident_id, incident_class, action, target, success,
                 verification, detail, started_at, verified_at, duration_ms)
               VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (outcome_id) DO NOTHING""",
            (
                derived_id("outcome", action_id),
                action_id,
                inc.incident_id,
                inc.incident_class,
                action,
                target,
                success,
                verification,
                detail,
                ts(started_ms),
                ts(verified_ms),
                verified_ms - started_ms,
            ),
        )

    def close(self, incident_id: str, status: EpisodeStatus, closed_ms: int, ttd: int | None, ttr: int | None) -> None:
        self._exec(
            "incidents",
            """UPDATE incidents SET status = %s, resolved_at = %s, time_to_detect_ms = %s, time_to_recover_ms = %s
               WHERE incident_id = %s""",
            (status, ts(closed_ms), ttd, ttr, incident_id),
        )
        postmortem = self.postmortem(incident_id)
        if postmortem is not None:
            self._exec(
                "incidents", "UPDATE incidents SET postmortem = %s WHERE incident_id = %s", (postmortem, incident_id)
            )

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
        rows = self._rows("SELECT * FROM incidents WHERE incident_id = %s", (incident_id,))
        if not rows:
            return None
        actions = self._rows("SELECT * FROM actions WHERE incident_id = %s ORDER BY ts, attempt", (incident_id,))
        outcomes = self._rows("SELECT * FROM outcomes WHERE incident_id = %s ORDER BY started_at", (incident_id,))
        return render_postmortem(rows[0], actions, outcomes)

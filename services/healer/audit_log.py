"""The audit trail as a log: each write is an AuditRecord on `audit`; the PostgreSQL tables are its projection.

A record is applied at most once (its event id goes into ``audit_applied`` in the same transaction), so
the healer's own immediate write and the audit sink, which replays the topic into the tables, never
apply one twice. While PostgreSQL is down the healer goes on healing: its writes wait on the topic,
and the sink applies them, in order per incident, once the database is back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout

from services.common.bus import ContractError, Event, Out, RetryableError
from services.common.events import header

log = logging.getLogger(__name__)

DB_UNAVAILABLE = (psycopg.OperationalError, PoolTimeout)  # an outage, as opposed to a bad record


def ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def audit_record(source: str, op: str, incident_id: str, args: dict[str, Any]) -> dict[str, Any]:
    return {**header(source), "op": op, "incident_id": incident_id, "args": json.dumps(args, sort_keys=True)}


def rows(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def _incident(conn: psycopg.Connection[Any], incident_id: str, a: dict[str, Any]) -> None:
    conn.execute(
        """INSERT INTO incidents (incident_id, event_id, fingerprint, type, root_cause, service, target,
             severity, summary, explanation, count, evidence, first_seen, last_seen, received_at, policy_version)
           VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (incident_id) DO NOTHING""",
        (
            incident_id,
            a["event_id"],
            a["fingerprint"],
            a["type"],
            a["root_cause"],
            a["service"],
            a["target"],
            a["severity"],
            a["summary"],
            a["explanation"],
            a["count"],
            json.dumps(a["evidence"]),
            ts(a["first_seen_ms"]),
            ts(a["last_seen_ms"]),
            ts(a["received_ms"]),
            a["policy_version"],
        ),
    )


def _sighting(conn: psycopg.Connection[Any], incident_id: str, a: dict[str, Any]) -> None:
    conn.execute(
        """UPDATE incidents SET count = GREATEST(count, %s), last_seen = GREATEST(last_seen, %s)
           WHERE incident_id = %s""",
        (a["count"], ts(a["last_seen_ms"]), incident_id),
    )


def _merge(conn: psycopg.Connection[Any], incident_id: str, a: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE incidents SET count = count + %s, last_seen = GREATEST(last_seen, %s) WHERE incident_id = %s",
        (a["count_added"], ts(a["last_seen_ms"]), incident_id),
    )


def _action(conn: psycopg.Connection[Any], incident_id: str, a: dict[str, Any]) -> None:
    conn.execute(
        """INSERT INTO actions (event_id, action_id, incident_id, fingerprint, action, target, status, attempt,
             dry_run, reason, detail, ts, time_to_detect_ms, time_to_recover_ms)
           VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (event_id) DO NOTHING""",
        (
            a["event_id"],
            a["action_id"],
            incident_id,
            a["fingerprint"],
            a["action"],
            a["target"],
            a["status"],
            a["attempt"],
            a["dry_run"],
            a["reason"],
            json.dumps(a["detail"]),
            ts(a["ts"]),
            a["time_to_detect_ms"],
            a["time_to_recover_ms"],
        ),
    )


def _outcome(conn: psycopg.Connection[Any], incident_id: str, a: dict[str, Any]) -> None:
    conn.execute(
        """INSERT INTO outcomes (outcome_id, action_id, incident_id, incident_class, action, target, success,
             verification, detail, started_at, verified_at, duration_ms)
           VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (outcome_id) DO NOTHING""",
        (
            a["outcome_id"],
            a["action_id"],
            incident_id,
            a["incident_class"],
            a["action"],
            a["target"],
            a["success"],
            a["verification"],
            a["detail"],
            ts(a["started_ms"]),
            ts(a["verified_ms"]),
            a["verified_ms"] - a["started_ms"],
        ),
    )


def _close(conn: psycopg.Connection[Any], incident_id: str, a: dict[str, Any]) -> None:
    from services.healer.audit import postmortem_from  # the renderer lives with the trail's reads

    conn.execute(
        """UPDATE incidents SET status = %s, resolved_at = %s, time_to_detect_ms = %s, time_to_recover_ms = %s
           WHERE incident_id = %s""",
        (a["status"], ts(a["closed_ms"]), a["ttd"], a["ttr"], incident_id),
    )
    postmortem = postmortem_from(lambda sql, params: rows(conn, sql, params), incident_id)
    if postmortem is not None:
        conn.execute("UPDATE incidents SET postmortem = %s WHERE incident_id = %s", (postmortem, incident_id))


Write = Callable[[psycopg.Connection[Any], str, dict[str, Any]], None]
OPS: dict[str, Write] = {
    "incident": _incident,
    "sighting": _sighting,
    "merge": _merge,
    "action": _action,
    "outcome": _outcome,
    "close": _close,
}


def parse(record: dict[str, Any]) -> tuple[Write, dict[str, Any]]:
    """The write a record asks for and its values; ContractError names what is wrong with a bad record."""
    op = OPS.get(str(record.get("op")))
    if op is None:
        raise ContractError(f"unknown audit write {record.get('op')!r}; known: {', '.join(sorted(OPS))}")
    try:
        args = json.loads(record["args"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ContractError(f"audit record args are not JSON: {exc}") from None
    if not isinstance(args, dict):
        raise ContractError("audit record args are not a JSON object")
    return op, args


def apply(conn: psycopg.Connection[Any], record: dict[str, Any]) -> bool:
    """Apply one record in its own transaction; False when it had been applied already."""
    op, args = parse(record)
    with conn.transaction():
        fresh = conn.execute(
            "INSERT INTO audit_applied (event_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING event_id",
            (record["event_id"],),
        ).fetchone()
        if fresh is None:
            return False
        try:
            op(conn, str(record["incident_id"]), args)
        except (KeyError, TypeError) as exc:
            raise ContractError(f"audit record {record.get('op')} lacks a value: {exc}") from None
    return True


def applied(conn: psycopg.Connection[Any], event_id: str) -> bool:
    return conn.execute("SELECT 1 FROM audit_applied WHERE event_id = %s", (event_id,)).fetchone() is not None


def sink_handler(pool: Any) -> Callable[[Event], Iterable[Out]]:
    """The audit sink: replays `audit` into the tables. A database outage is retried (the bus backs off and
    keeps its place); a record that cannot be applied is dead-lettered with the reason."""

    def handle(event: Event) -> Iterable[Out]:
        try:
            with pool.connection(timeout=5.0) as conn:
                apply(conn, event.value)
        except DB_UNAVAILABLE as exc:
            raise RetryableError(f"postgresql: {exc}") from exc
        return ()

    return handle

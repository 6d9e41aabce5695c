"""The audit trail survives a PostgreSQL outage: the healer goes on healing while the database is down,
and once it is back every incident and every action of the outage is in the tables, each once.

PostgreSQL is really stopped (infra.sh down postgres) and started again; the audit sink replays the
`audit` topic into the tables.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from healer_itest_support import healer_redis_cleanup, healer_settings, incident, make_healer

from kit.kafka import read_topic
from kit.wait import IN_PROCESS_LOG, wait_until
from services.common.bus import StreamProcessor
from services.common.settings import REPO_ROOT
from services.healer.audit_log import sink_handler

pytestmark = pytest.mark.infra
__all__ = ["healer_redis_cleanup"]  # an autouse fixture: the import is its registration

INCIDENTS = 8
INFRA = REPO_ROOT / "infra" / "local" / "infra.sh"


@contextmanager
def postgres_stopped() -> Iterator[None]:
    """PostgreSQL down for the block, and up again after it whatever happens."""
    subprocess.run([str(INFRA), "down", "postgres"], check=True, capture_output=True, timeout=120)
    try:
        yield
    finally:
        subprocess.run([str(INFRA), "up", "postgres"], check=True, capture_output=True, timeout=300)


def _in_tables(dsn: str, incident_ids: list[str], action_ids: set[str]) -> tuple[int, int, int] | None:
    """(incidents closed, actions, outcomes) once all are there; None before that or while the database is away."""
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            closed = conn.execute(
                "SELECT count(*) FROM incidents WHERE incident_id = ANY(%s) AND status = 'resolved'", (incident_ids,)
            ).fetchone()
            actions = conn.execute(
                "SELECT count(*) FROM actions WHERE event_id = ANY(%s)", (list(action_ids),)
            ).fetchone()
            outcomes = conn.execute(
                "SELECT count(*) FROM outcomes WHERE incident_id = ANY(%s)", (incident_ids,)
            ).fetchone()
    except psycopg.OperationalError:
        return None
    found = (int(closed[0]) if closed else 0, int(actions[0]) if actions else 0, int(outcomes[0]) if outcomes else 0)
    return found if found[0] == len(incident_ids) and found[1] == len(action_ids) else None


def test_incidents_and_actions_reach_the_tables_after_a_postgresql_outage(topic_prefix: str, pg_dsn: str) -> None:
    settings = healer_settings(topic_prefix, cooldown_s=0)
    healer, pool = make_healer(settings, synchronous=True)
    sink = StreamProcessor(settings, ["audit"], settings.consumer_group("audit"), sink_handler(pool))
    stop = threading.Event()
    sink_thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    sink_thread.start()
    try:
        assert sink.wait_ready(30), "the audit sink got no partitions"
        incidents = [incident(type="data_quality", service="ingest") for _ in range(INCIDENTS)]
        with postgres_stopped():
            started = time.monotonic()
            decisions = [healer.on_incident(inc).kind for inc in incidents]
            healed_s = time.monotonic() - started
            assert decisions == ["act"] * INCIDENTS  # healing went on without the database
            events = read_topic(settings, "actions", until=lambda got: len(got) >= 3 * INCIDENTS, timeout_s=30)
            statuses = {e["status"] for e in events}
            assert "resolved" in statuses and "executed" in statuses, statuses
            assert _in_tables(pg_dsn, [i["incident_id"] for i in incidents], {e["event_id"] for e in events}) is None
        back = time.monotonic()
        ids = [i["incident_id"] for i in incidents]
        closed, actions, outcomes = wait_until(
            lambda: _in_tables(pg_dsn, ids, {e["event_id"] for e in events}),
            90,
            "every incident and action of the outage in PostgreSQL",
            IN_PROCESS_LOG,
            every_s=0.5,
        )
        assert outcomes == INCIDENTS  # one verified pause_ingest each
        with psycopg.connect(pg_dsn) as conn:
            postmortems = conn.execute(
                "SELECT count(*) FROM incidents WHERE incident_id = ANY(%s) AND postmortem LIKE '%%pause_ingest%%'",
                (ids,),
            ).fetchone()
        assert postmortems is not None and postmortems[0] == INCIDENTS
        print(
            f"\nPostgreSQL down: {INCIDENTS} incidents healed in {healed_s:.1f} s, {len(events)} actions on the topic; "
            f"back: all {closed} incidents, {actions} actions and {outcomes} outcomes in the tables after "
            f"{time.monotonic() - back:.1f} s"
        )
    finally:
        stop.set()
        sink_thread.join(20)
        healer.close()
        pool.close()

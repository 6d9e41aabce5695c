"""An episode outlives the healer that runs it: SIGKILL in the middle of a restart action, and the incident
still reaches an end (resolved or escalated) once a healer runs again, although its offset was committed.

The episode is journaled in Redis before the incident's offset is committed, under a lease the running
replica renews; a dead replica's lease lapses and any replica, the restarted one included, takes the
episode over from the journal.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psycopg
import pytest
from healer_itest_support import healer_redis_cleanup, healer_settings, incident, make_healer, probe_container

from kit.kafka import committed_total
from kit.ports import free_port
from kit.procs import Proc, start_module
from kit.wait import IN_PROCESS_LOG, http_ok, wait_until
from services.common.bus import EventProducer
from services.healer.handlers import FingerprintState, validate_incident
from services.healer.settings import HealerSettings

pytestmark = pytest.mark.infra
__all__ = ["healer_redis_cleanup"]  # an autouse fixture: the import is its registration

SLOW_RESTART_POLICY = """
version: 1
defaults:
  verify_timeout_s: 60
rules:
  - match: {type: service_down}
    ladder:
      - {action: restart_container, target: "{service}", attempts: 2, verify: health, grace_s: 15}
      - {action: alert}
"""


def _statuses(dsn: str, fingerprint: str) -> tuple[str | None, list[str]]:
    """The incident's audit status and the statuses of its restart actions, oldest first."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT status FROM incidents WHERE fingerprint = %s", (fingerprint,)).fetchone()
        actions = conn.execute(
            "SELECT status FROM actions WHERE fingerprint = %s AND action = 'restart_container' ORDER BY ts",
            (fingerprint,),
        ).fetchall()
    return (None if row is None else str(row[0])), [str(a[0]) for a in actions]


def _ended(dsn: str, fingerprint: str) -> tuple[str, list[str]] | None:
    status, actions = _statuses(dsn, fingerprint)
    return (status, actions) if status in ("resolved", "escalated") else None


def _healer_env(settings: HealerSettings, base_env: dict[str, str]) -> dict[str, str]:
    return {
        **base_env,
        "AIG_TOPIC_PREFIX": settings.topic_prefix,
        "AIG_REDIS_PREFIX": settings.redis_prefix,
        "AIG_COMPOSE_PROJECT": settings.compose_project,
        "AIG_ALLOWED_SERVICES": json.dumps(settings.allowed_services),
        "AIG_POLICY_PATH": str(settings.policy_path),
        "AIG_LOCK_TTL_S": str(settings.lock_ttl_s),
        "AIG_COOLDOWN_S": str(settings.cooldown_s),
        "AIG_BACKOFF_BASE_S": "0.1",
        "AIG_VERIFY_INTERVAL_S": "0.2",
        "AIG_WATCH_ENABLED": "false",
        "AIG_LOG_TO_KAFKA": "false",
        "AIG_GROUP_ID": f"healer-{settings.topic_prefix}",
    }


@contextmanager
def _healer(name: str, env: dict[str, str], log: Path) -> Iterator[Proc]:
    port = free_port()
    proc = Proc(name, start_module("services.healer", {**env, "AIG_HTTP_PORT": str(port)}, log), log, port)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/ready"), 60, f"{name} ready", log, proc.popen)
        yield proc
    finally:
        proc.stop(10)


def test_an_episode_cut_off_by_sigkill_is_taken_over_after_the_restart(
    docker_engine: Any, topic_prefix: str, pg_dsn: str, settings_env: dict[str, str], tmp_path: Path
) -> None:
    service = f"probe{uuid.uuid4().hex[:6]}"
    policy = tmp_path / "policy.yaml"
    policy.write_text(SLOW_RESTART_POLICY)
    settings = healer_settings(topic_prefix, allowed_services=[service], policy_path=policy, lock_ttl_s=3.0)
    env = _healer_env(settings, settings_env)
    port = free_port()
    container = probe_container(docker_engine, settings, service, port)
    fingerprint = f"service_down:{service}"
    first_log, second_log = tmp_path / "healer-1.log", tmp_path / "healer-2.log"
    try:
        with _healer("healer-1", env, first_log) as first:
            inc = incident(fingerprint=fingerprint, service=service, type="service_down")
            producer = EventProducer(settings)
            producer.produce("incidents", inc, fingerprint)
            producer.flush(10)
            wait_until(lambda: "executed" in _statuses(pg_dsn, fingerprint)[1], 30, "the restart started", first_log)
            group = env["AIG_GROUP_ID"]
            wait_until(lambda: committed_total(settings, group, "incidents") == 1, 10, "offset committed", first_log)
            first.popen.send_signal(signal.SIGKILL)
            first.popen.wait(10)
        status, actions = _statuses(pg_dsn, fingerprint)
        assert status == "open" and "succeeded" not in actions, (status, actions)  # killed mid-action

        with _healer("healer-2", env, second_log):
            ended = "the incident ended after the takeover"
            status, actions = wait_until(lambda: _ended(pg_dsn, fingerprint), 120, ended, second_log, every_s=0.2)
        assert "taking over the episode of incident" in second_log.read_text(), second_log
        print(f"\nafter SIGKILL mid-restart: incident {status}; restart actions {actions}")
        assert status == "resolved", (status, actions)
        assert http_ok(f"http://127.0.0.1:{port}/health")
    finally:
        container.remove(force=True)


def test_a_journaled_episode_that_had_ended_is_dropped_not_run_again(topic_prefix: str) -> None:
    """A replica that died between recording an episode's end and dropping its journal leaves an ended
    episode behind: the next replica drops it instead of acting again."""
    settings = healer_settings(topic_prefix, lock_ttl_s=3.0)
    healer, pool = make_healer(settings)
    try:
        inc = validate_incident(incident(service="inference", type="service_down"))
        healer.safety.journal_episode(inc.fingerprint, asdict(inc), inc.last_seen)
        healer.safety.set_state(inc.fingerprint, FingerprintState(inc.incident_id, "resolved", inc.last_seen))
        assert healer.resume_orphans() == 0  # this call, or the lease keeper's round at the same time
        gone = "the ended episode's journal dropped"
        wait_until(lambda: healer.safety.journaled_episode(inc.fingerprint) is None, 10, gone, IN_PROCESS_LOG)
        state = healer.safety.get_state(inc.fingerprint)
        assert state is not None and state.status == "resolved"
    finally:
        healer.close()
        pool.close()


def test_an_unreadable_journal_entry_is_dropped_with_a_reason(topic_prefix: str, caplog: Any) -> None:
    """The journal is data read back from Redis, which anyone on the network may write: never trusted."""
    settings = healer_settings(topic_prefix, lock_ttl_s=3.0)
    healer, pool = make_healer(settings)
    try:
        for fingerprint, blob in (("fp-a", b"\x80\x04pickle"), ("fp-b", json.dumps({"incident": {"type": "x"}}))):
            healer.safety.r.set(healer.safety.key("episode", fingerprint), blob)
        assert healer.resume_orphans() == 0
        dropped = "the unreadable entries dropped"
        wait_until(lambda: healer.safety.journaled_fingerprints() == [], 10, dropped, IN_PROCESS_LOG)
        assert "dropped" in caplog.text
    finally:
        healer.close()
        pool.close()

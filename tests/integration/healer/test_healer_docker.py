"""Closed loop against a real Docker engine: a crashed and a hung container are detected by the
health watch, restarted through the Docker API by the healer (via Kafka), verified healthy, and
their time to recover is recorded."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg
import pytest
from healer_itest_support import (
    PYTHON_HOME,
    healer_redis_cleanup,
    healer_settings,
    make_healer,
    pick_image,
    probe_container,
)

from kit.ports import free_port
from kit.wait import IN_PROCESS_LOG, http_ok, wait_until
from services.common.bus import StreamProcessor
from services.healer.service import handler
from services.healer.watch import HealthWatch

pytestmark = pytest.mark.infra
__all__ = ["healer_redis_cleanup"]  # an autouse fixture: the import is its registration


def resolved(dsn: str, fingerprint: str) -> tuple[str, int | None, int | None] | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT status, time_to_detect_ms, time_to_recover_ms FROM incidents WHERE fingerprint = %s "
            "ORDER BY received_at DESC LIMIT 1",
            (fingerprint,),
        ).fetchone()
    return None if row is None or row[0] == "open" else (row[0], row[1], row[2])


@dataclass(frozen=True)
class ContainerFault:
    """A signal sent to the container's process: how it is probed while it takes effect, how long healing may take."""

    what: str
    signum: signal.Signals
    probe_s: float  # health probe timeout while waiting for the service to stop answering
    every_s: float
    heal_within_s: float


def break_and_heal(container: Any, url: str, dsn: str, fingerprint: str, fault: ContainerFault) -> tuple[float, int]:
    """Send the fault's signal and wait until the service is down, healthy again and its incident resolved;
    returns the seconds to healthy by the test's clock and the healer's time to recover in ms."""
    container.reload()
    started = time.monotonic()
    os.kill(container.attrs["State"]["Pid"], fault.signum)
    gone, healed = f"the service unanswered after the {fault.what}", f"healthy again after the {fault.what}"
    wait_until(lambda: not http_ok(url, fault.probe_s), 5, gone, IN_PROCESS_LOG, every_s=fault.every_s)
    wait_until(lambda: http_ok(url, 0.5), fault.heal_within_s, healed, IN_PROCESS_LOG, every_s=0.1)
    to_healthy = time.monotonic() - started
    status, ttd, ttr = wait_until(
        lambda: resolved(dsn, fingerprint), 30, f"{fingerprint} resolved", IN_PROCESS_LOG, every_s=0.1
    )
    assert status == "resolved" and ttd is not None and ttr is not None
    print(
        f"{fault.what} ({fault.signum.name}): healthy again after {to_healthy:.2f} s (test clock); healer: "
        f"time to detect {ttd / 1000:.2f} s, time to recover {ttr / 1000:.2f} s"
    )
    return to_healthy, ttr


def test_crashed_and_hung_containers_are_restarted_and_verified(
    docker_engine: Any, topic_prefix: str, pg_dsn: str
) -> None:
    port = free_port()
    service = f"probe{uuid.uuid4().hex[:6]}"
    settings = healer_settings(
        topic_prefix,
        allowed_services=[service],
        cooldown_s=2.0,
        watch_discovery_s=1.0,
        watch_reemit_s=5.0,
    )
    url = f"http://127.0.0.1:{port}/health"
    container = probe_container(docker_engine, settings, service, port)
    healer, pool = make_healer(settings, synchronous=False)
    publish = healer.publish
    watch = HealthWatch(
        settings, lambda rec: publish("incidents", rec, rec["fingerprint"]), healer.safety, healer.docker
    )
    processor = StreamProcessor(settings, ["incidents", "model.events"], f"healer-{topic_prefix}", handler(healer))
    stop = threading.Event()
    threads = [
        threading.Thread(target=processor.run, args=(stop,), daemon=True),
        threading.Thread(target=watch.run, args=(stop,), daemon=True),
    ]
    try:
        for t in threads:
            t.start()
        assert processor.wait_ready(30)
        wait_until(lambda: http_ok(url, 0.5), 20, "the test service up", IN_PROCESS_LOG, every_s=0.1)
        probed = "the health watch probing the test service"
        wait_until(lambda: any(p.url == url for p in watch.probes.values()), 10, probed, IN_PROCESS_LOG, every_s=0.1)
        time.sleep(1.5)  # the docker event stream is attached

        # 1. a crash that logs nothing: SIGKILL the container's process from outside
        crash = ContainerFault("crash", signal.SIGKILL, probe_s=0.2, every_s=0.02, heal_within_s=30)
        print()  # the two reports start on a line of their own, after pytest's progress
        crash_to_healthy, ttr = break_and_heal(container, url, pg_dsn, f"service_down:{service}", crash)
        assert crash_to_healthy < 15 and ttr < 15_000

        # 2. a hang: SIGSTOP, so the process holds its port but answers nothing
        time.sleep(settings.cooldown_s + 0.5)
        hang = ContainerFault("hang", signal.SIGSTOP, probe_s=0.3, every_s=0.05, heal_within_s=40)
        hang_to_healthy, ttr = break_and_heal(container, url, pg_dsn, f"service_hung:{service}", hang)
        assert hang_to_healthy < 30 and ttr < 30_000
        container.reload()
        assert container.status == "running"
        with psycopg.connect(pg_dsn) as conn:
            actions = conn.execute(
                "SELECT action, target, status FROM actions WHERE fingerprint IN (%s, %s) AND status = 'succeeded'",
                (f"service_down:{service}", f"service_hung:{service}"),
            ).fetchall()
        assert sorted(actions) == [("restart_container", service, "succeeded")] * 2
    finally:
        stop.set()
        for t in threads:
            t.join(20)
        healer.close()
        pool.close()
        container.remove(force=True)


def test_a_container_stopped_on_purpose_is_left_alone_a_killed_one_is_not(docker_engine: Any) -> None:
    """What the real engine reports after `docker stop` and after SIGKILL, and the healer's reading of it."""
    from services.healer.actions.restart_container import stopped_on_purpose

    image = pick_image(docker_engine)
    script = "import signal, time; signal.signal(signal.SIGTERM, lambda *a: exit(0)); time.sleep(600)"
    made = []
    try:
        for _ in range(2):
            made.append(
                docker_engine.containers.run(
                    image,
                    [f"{PYTHON_HOME}/bin/python3", "-c", script],
                    detach=True,
                    network_mode="host",
                    volumes={PYTHON_HOME: {"bind": PYTHON_HOME, "mode": "ro"}},
                )
            )
        stopped, killed = made
        stopped.stop(timeout=10)
        killed.kill(signal="SIGKILL")

        def exited(container: Any) -> bool:
            container.reload()
            return bool(container.status == "exited")

        for c in made:
            wait_until(partial(exited, c), 20, "the container exited", IN_PROCESS_LOG, every_s=0.1)
        assert stopped_on_purpose(stopped) == "was stopped on purpose (exit code 0)"
        assert killed.attrs["State"]["ExitCode"] == 137 and stopped_on_purpose(killed) is None
    finally:
        for c in made:
            with contextlib.suppress(Exception):
                c.remove(force=True)

"""The one service contract on real Kafka: ``main(build, Settings)`` and the exit codes it promises."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from kit.ports import free_port
from kit.procs import start_module
from kit.wait import wait_until
from services.common.service import Service, serve
from services.common.settings import CommonSettings


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_service_serves_until_sigterm_then_exits_0(settings_env: dict[str, str], tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "relay.log"
    env = {**settings_env, "AIG_HTTP_PORT": str(port), "AIG_LOG_TO_KAFKA": "false"}
    proc = start_module("tests.support.relay", env, log)
    try:
        wait_until(lambda: _ready(port), 60, "relay /ready", log, proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-2000:]
        assert "relay stopped cleanly" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_no_kafka_or_bad_settings_exit_2_with_the_reason(settings_env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "relay.log"
    closed = free_port()  # nothing listens there
    env = {
        **settings_env,
        "AIG_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed}",
        "AIG_DEPENDENCY_TIMEOUT_S": "2",
        "AIG_LOG_TO_KAFKA": "false",
    }
    proc = start_module("tests.support.relay", env, log)
    assert proc.wait(60) == 2
    assert "cannot start: Kafka not reachable" in log.read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "tests.support.relay"],
        env={**settings_env, "AIG_BATCH_SIZE": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "invalid settings" in bad.stderr and "batch_size" in bad.stderr


def test_a_crash_in_build_exits_1_and_the_after_steps_always_run(topic_prefix: str, infra: dict[str, str]) -> None:
    settings = CommonSettings(
        topic_prefix=topic_prefix,
        kafka_bootstrap=infra["kafka_bootstrap"],
        log_to_kafka=False,
        service_name="contract-test",
    )

    def broken(_s: CommonSettings) -> Service:
        raise RuntimeError("boom")

    assert serve(settings, broken) == 1
    calls: list[str] = []

    def good(_s: CommonSettings) -> Service:
        def main(stop: threading.Event) -> int:
            calls.append("main")
            return 3  # a main loop may end with a code of its own (the faust worker does)

        def loop(stop: threading.Event) -> None:
            stop.wait(30)
            calls.append("background stopped")

        return Service(
            main=main,
            background={"loop": loop},
            before=[lambda: calls.append("before")],
            after=[lambda: calls.append("after")],
        )

    assert serve(settings, good) == 3
    assert calls == ["before", "main", "background stopped", "after"]

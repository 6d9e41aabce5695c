"""The health watch's bookkeeping: thresholds, hung vs down, re-emission, recovery, Docker events."""

from __future__ import annotations

from typing import Any

import httpx

from services.healer.settings import HealerSettings
from services.healer.watch import HealthWatch, Probe, classify, failing_dependencies


def make(**kw: Any) -> tuple[HealthWatch, list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []
    settings = HealerSettings(watch_failures=2, watch_reemit_s=3600, watch_ready_failures=3, **kw)
    return HealthWatch(settings, out.append), out


def test_classify() -> None:
    assert classify(None, 200) == (True, False, "")
    assert classify(httpx.ReadTimeout("slow"), None)[:2] == (False, True)
    assert classify(httpx.ConnectError("refused"), None)[:2] == (False, False)
    assert classify(None, 503) == (False, False, "answered HTTP 503")


def test_two_timeouts_in_a_row_raise_one_service_hung_incident() -> None:
    watch, out = make()
    probe = Probe("inference", "http://127.0.0.1:1/health", "health", container="c1")
    watch.observe(probe, False, True, "no answer", 1_000)
    assert out == []
    watch.observe(probe, False, True, "no answer", 2_000)
    watch.observe(probe, False, True, "no answer", 3_000)  # still the same outage, not re-emitted yet
    assert len(out) == 1
    inc = out[0]
    assert (inc["type"], inc["fingerprint"], inc["root_cause"]) == ("service_hung", "service_hung:inference", "timeout")
    assert inc["first_seen"] == 1_000 and inc["target"] == "c1"
    assert inc["evidence"]["detector"] == "http_probe"


def test_a_success_resets_the_count_and_closes_the_outage() -> None:
    watch, out = make()
    probe = Probe("feature", "http://x/health", "health")
    watch.observe(probe, False, False, "refused", 1)
    watch.observe(probe, True, False, "", 2)
    watch.observe(probe, False, False, "refused", 3)
    assert out == []
    watch.observe(probe, False, False, "refused", 4)
    watch.observe(probe, True, False, "", 5)
    watch.observe(probe, False, False, "refused", 6)
    watch.observe(probe, False, False, "refused", 7)
    assert [i["type"] for i in out] == ["service_down", "service_down"]
    assert out[0]["incident_id"] != out[1]["incident_id"]  # a new outage, a new incident


def test_an_open_outage_is_re_emitted_with_the_same_id() -> None:
    out: list[dict[str, Any]] = []
    watch = HealthWatch(HealerSettings(watch_reemit_s=0.001), out.append)
    assert watch.raise_incident("service_down", "x", 1, "x down", {"detector": "t"})
    import time

    time.sleep(0.01)
    assert watch.raise_incident("service_down", "x", 1, "x down", {"detector": "t"})
    assert out[0]["incident_id"] == out[1]["incident_id"] and out[1]["count"] == 2


def test_ready_failures_need_a_longer_streak() -> None:
    watch, out = make()
    probe = Probe("feature", "http://x/ready", "ready")
    for t in range(2):
        watch.observe(probe, False, False, "answered HTTP 503", t)
    assert out == []
    watch.observe(probe, False, False, "answered HTTP 503", 3)
    assert out[0]["root_cause"] == "dependency_unavailable"


def event(action: str, **attrs: str) -> dict[str, Any]:
    base = {
        "com.docker.compose.project": "autoinfraguard",
        "com.docker.compose.service": "inference",
        "name": "aig-inference-1",
    }
    base.update(attrs)
    return {"Type": "container", "Action": action, "Actor": {"Attributes": base}, "timeNano": 5_000_000_000}


def test_a_die_event_raises_service_down_at_once() -> None:
    watch, out = make()
    watch.on_docker_event(event("die", exitCode="137"))
    assert len(out) == 1 and out[0]["type"] == "service_down" and out[0]["first_seen"] == 5_000
    assert out[0]["evidence"]["exit_code"] == "137"


def test_foreign_projects_and_deliberate_stops_are_ignored() -> None:
    watch, out = make()
    watch.on_docker_event(event("die", **{"com.docker.compose.project": "someone-else"}))
    watch.on_docker_event(event("kill", signal="15"))
    watch.on_docker_event(event("die", exitCode="143"))
    assert out == []
    watch.on_docker_event(event("health_status: unhealthy"))
    assert out[0]["summary"].endswith("is unhealthy")


def test_a_start_event_closes_the_outage_so_the_next_crash_is_a_new_incident() -> None:
    watch, out = make()
    watch.on_docker_event(event("die", exitCode="1"))
    watch.on_docker_event(event("start"))
    watch.on_docker_event(event("die", exitCode="1"))
    assert len(out) == 2 and out[0]["incident_id"] != out[1]["incident_id"]


def test_the_watch_outlives_a_failing_emit_and_a_bad_url() -> None:
    """A Kafka flush that raises once, and a URL httpx cannot parse, must not end the probing."""
    import threading

    from kit.ports import free_port
    from kit.wait import IN_PROCESS_LOG, wait_until

    calls: list[dict[str, Any]] = []

    def flaky_emit(record: dict[str, Any]) -> None:
        calls.append(record)
        if len(calls) == 1:
            raise RuntimeError("Kafka flush timed out")

    settings = HealerSettings(
        watch_failures=2,
        watch_interval_s=0.05,
        watch_timeout_s=0.5,
        watch_reemit_s=3600,
        watch_urls={"inference": f"http://127.0.0.1:{free_port()}", "bad": "http://bad\x00host"},
    )
    watch = HealthWatch(settings, flaky_emit)
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,), daemon=True)
    thread.start()

    def resent() -> bool:
        return len(calls) >= 2 and any(c["fingerprint"] == calls[0]["fingerprint"] for c in calls[1:])

    try:
        wait_until(resent, timeout_s=20, what="the failed incident sent again", log=IN_PROCESS_LOG)
        wait_until(lambda: len({c["service"] for c in calls}) == 2, timeout_s=20, what="both", log=IN_PROCESS_LOG)
    finally:
        stop.set()
        thread.join(10)
    assert watch.round_errors >= 1 and not thread.is_alive()
    again = next(c for c in calls[1:] if c["fingerprint"] == calls[0]["fingerprint"])
    assert again["count"] == 1, "the incident that failed to go out is sent again as the first report"
    bad = next(c for c in calls if c["service"] == "bad")
    assert bad["type"] == "service_down" and "InvalidURL" in bad["evidence"]["error"]


def test_only_a_ready_that_fails_on_shared_dependencies_alone_names_them() -> None:
    assert failing_dependencies({"checks": {"kafka": True, "postgres": False}}) == ("postgres",)
    assert failing_dependencies({"checks": {"redis": False, "postgres": False}}) == ("postgres", "redis")
    assert failing_dependencies({"checks": {"kafka": False, "postgres": False}}) == ()  # the service itself too
    assert failing_dependencies({"checks": {"kafka": True}}) == ()
    assert failing_dependencies(["not", "a", "body"]) == ()


def test_a_service_waiting_for_its_database_is_a_dependency_outage_not_a_dead_service() -> None:
    """Restarting the trainer would not bring PostgreSQL back: the incident names the dependency."""
    watch, out = make()
    probe = Probe("trainer", "http://x/ready", "ready", dependencies=("postgres",))
    for at in (1, 2, 3):
        watch.observe(probe, False, False, "answered HTTP 503", at)
    assert len(out) == 1
    inc = out[0]
    assert (inc["type"], inc["root_cause"], inc["target"]) == ("log_error", "dependency_unavailable", "postgres")
    assert inc["fingerprint"] == "log_error:trainer:dependency_unavailable"  # the log-classifier's own rule
    assert "bring postgres back" in inc["explanation"]
    watch.observe(probe, True, False, "", 4)
    assert watch.outages == {}  # ready again: the outage is over

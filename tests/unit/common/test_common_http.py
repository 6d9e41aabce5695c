"""The /ready body: each check's state and its reason, whether a check answers a bool, a reason or raises."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.common.http import add_ready_check, create_app, readiness_body, run_check
from services.common.settings import CommonSettings


def _down() -> bool:
    raise ConnectionRefusedError("redis at 127.0.0.1:1 refused the connection")


def test_checks_answer_a_bool_a_reason_or_raise() -> None:
    assert run_check(lambda: True) == (True, "ok")
    assert run_check(lambda: False) == (False, "not ready")
    assert run_check(lambda: (False, "consumer group g: waiting")) == (False, "consumer group g: waiting")
    ok, reason = run_check(_down)
    assert not ok and reason == "check failed: ConnectionRefusedError: redis at 127.0.0.1:1 refused the connection"


def test_body_is_ready_only_when_every_check_is() -> None:
    ok, body = readiness_body({"kafka": lambda: (True, "holds t[0]"), "model": lambda: False})
    assert not ok
    assert body == {
        "ready": False,
        "checks": {"kafka": True, "model": False},
        "reasons": {"kafka": "holds t[0]", "model": "not ready"},
    }
    assert readiness_body({})[0] is True


def test_ready_endpoint_answers_503_with_reasons_and_takes_checks_added_later() -> None:
    app = create_app(CommonSettings(service_name="t"), {"model": lambda: True})
    state = {"assigned": False}
    assert add_ready_check(app, "kafka_assignment", lambda: (state["assigned"], "group g"))
    assert not add_ready_check(app, "model", lambda: False)  # a service's own check is kept
    with TestClient(app) as client:
        reply = client.get("/ready")
        assert reply.status_code == 503
        assert reply.json()["reasons"] == {"model": "ok", "kafka_assignment": "group g"}
        state["assigned"] = True
        assert client.get("/ready").status_code == 200

"""The shared vocabulary: one fingerprint rule, one incident record, one command parser, one group rule."""

from __future__ import annotations

import pytest

from services.common.bus import ContractError
from services.common.commands import CommandError, bool_param, command_for, params_of, positive_param
from services.common.incidents import (
    INCIDENT_TYPES,
    LOG_ROOT_CAUSES,
    ROOT_CAUSES,
    fingerprint,
    incident_record,
    is_bad_input,
)
from services.common.settings import CommonSettings


def test_the_fingerprint_is_the_type_then_what_tells_problems_apart() -> None:
    assert fingerprint("data_drift", "salary_k") == "data_drift:salary_k"
    assert fingerprint("log_error", "inference", "timeout") == "log_error:inference:timeout"
    with pytest.raises(ValueError, match="unknown incident type 'drift'"):
        fingerprint("drift", "salary_k")
    with pytest.raises(ValueError, match="needs a subject"):
        fingerprint("skew", "")


def _record(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "incident_id": "i1",
        "fingerprint": "skew:salary_k",
        "type": "skew",
        "service": "inference",
        "summary": "s",
        "explanation": "e",
        "count": 1,
        "first_seen": 1,
        "last_seen": 2,
        "evidence": {},
    }
    return incident_record("drift", **{**base, **kw})  # type: ignore[arg-type]


def test_an_incident_record_holds_only_the_vocabulary() -> None:
    rec = _record(root_cause="upstream_data", severity="critical", target="salary_k")
    assert rec["source"] == "drift" and rec["event_id"] and rec["type"] == "skew" and rec["target"] == "salary_k"
    for bad, match in (
        ({"type": "drift"}, "incident type"),
        ({"root_cause": "gremlins"}, "root cause"),
        ({"severity": "fatal"}, "severity"),
    ):
        with pytest.raises(ValueError, match=match):
            _record(**bad)


def test_the_log_classes_are_the_root_causes_a_log_line_can_name() -> None:
    assert set(LOG_ROOT_CAUSES) == ROOT_CAUSES - {"unknown", "upstream_data"}
    assert "service_down" in INCIDENT_TYPES
    assert is_bad_input("skew", None) and is_bad_input("log_error", "schema_mismatch")
    assert not is_bad_input("log_error", "timeout") and not is_bad_input("concept_drift", None)


def test_one_command_parser_refuses_what_it_does_not_know() -> None:
    cmd = {"target": "trainer", "command": "retrain", "params": {"force": "yes", "max_rows": "500", "action_id": "a"}}
    assert command_for(cmd, "inference", ("reload",)) is None  # for someone else
    assert command_for(cmd, "trainer", ("retrain", "rollback")) == "retrain"
    params = params_of(cmd, "retrain", {"force", "max_rows"})  # context params (action_id) are let through
    assert bool_param(params, "force", False) is True and bool_param(params, "gated", True) is True
    assert positive_param(params, "max_rows", int) == 500 and positive_param(params, "since_ms", int) is None
    with pytest.raises(CommandError, match="unknown trainer command 'reload'"):
        command_for({"target": "trainer", "command": "reload"}, "trainer", ("retrain",))
    with pytest.raises(CommandError, match=r"unknown retrain params \['colour'\]"):
        params_of({"params": {"colour": "red"}}, "retrain", {"force"})
    with pytest.raises(CommandError, match="param force must be true or false"):
        bool_param({"force": "maybe"}, "force", False)
    with pytest.raises(CommandError, match="max_rows must be a finite number > 0"):
        positive_param({"max_rows": "0"}, "max_rows", int)
    assert issubclass(CommandError, ContractError)  # the bus dead-letters it with the reason


def test_consumer_groups_follow_one_rule() -> None:
    s = CommonSettings(service_name="drift", topic_prefix="t1.")
    assert s.consumer_group() == "t1.drift" and s.consumer_group("control") == "t1.drift-control"
    a, b = s.consumer_group("control", per_replica=True), s.consumer_group("control", per_replica=True)
    assert a != b and a.startswith("t1.drift-control-")
    assert CommonSettings(service_name="drift", group_id="mine").consumer_group("x") == "mine-x"

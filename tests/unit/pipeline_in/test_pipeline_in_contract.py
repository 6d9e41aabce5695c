"""The data contract of ingest: each rule, and what a violation message says."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.common.bus import ContractError
from services.common.commands import CommandError
from services.ingest import handlers
from services.ingest.contract import Contract, ContractDefinitionError


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract.load()


def good() -> dict[str, Any]:
    return {
        "event_id": "e1",
        "ts": 1_700_000_000_000,
        "source": "t",
        "member_id": "m1",
        "job_id": "j1",
        "region": "eu",
        "device": "web",
        "industry": "software",
        "seniority": "mid",
        "years_experience": 4.0,
        "salary_k": 80.0,
        "skill_match": 0.5,
        "distance_km": 12.0,
        "dwell_s": 30.0,
        "remote": False,
        "hour_of_day": 9,
    }


def test_valid_event_passes(contract: Contract) -> None:
    result = contract.check(good())
    assert result.ok and not result.nulls and not result.out_of_range
    out = handlers.validate(contract, good())
    assert out.topic == "interactions.valid" and out.key == "m1"


@pytest.mark.parametrize(
    ("field", "value", "reason", "words"),
    [
        ("hour_of_day", 24, "above_max", "above the maximum 23"),
        ("hour_of_day", -1, "below_min", "below the minimum 0"),
        ("skill_match", 1.5, "above_max", "above the maximum 1"),
        ("years_experience", -2.0, "below_min", "below the minimum"),
        ("device", "fax", "not_allowed", "'fax' is not one of android, ios, web"),
        ("region", "", "not_allowed", "is not one of"),
        ("member_id", "", "length", "shorter than 1"),
        ("hour_of_day", "9", "type", "expected an integer, got str"),
        ("salary_k", "80", "type", "expected a number, got str"),
        ("salary_k", float("nan"), "type", "not a finite number"),
        ("remote", 1, "type", "expected a boolean"),
        ("hour_of_day", True, "type", "got a boolean"),
        ("job_id", None, "null", "must not be null"),
    ],
)
def test_each_rule(contract: Contract, field: str, value: Any, reason: str, words: str) -> None:
    result = contract.check({**good(), field: value})
    assert [(v.field, v.reason) for v in result.violations] == [(field, reason)]
    assert words in result.message()
    assert result.message().startswith(f"{field}: ")


def test_missing_required_and_unknown_fields(contract: Contract) -> None:
    event = good()
    del event["job_id"]
    event["colour"] = "red"
    result = contract.check(event)
    assert {(v.field, v.reason) for v in result.violations} == {("job_id", "missing"), ("colour", "unknown")}
    del event["colour"]
    del event["remote"]  # optional
    assert [v.field for v in contract.check(event).violations] == ["job_id"]


def test_nulls_and_soft_ranges_pass_but_are_counted(contract: Contract) -> None:
    result = contract.check({**good(), "dwell_s": None, "salary_k": 80_000.0})
    assert result.ok
    assert result.nulls == ["dwell_s"] and result.out_of_range == ["salary_k"]
    before = REGISTRY.get_sample_value("aig_ingest_out_of_range_total", {"field": "salary_k"}) or 0
    nulls = REGISTRY.get_sample_value("aig_ingest_null_total", {"field": "dwell_s"}) or 0
    handlers.validate(contract, {**good(), "dwell_s": None, "salary_k": 80_000.0})
    assert REGISTRY.get_sample_value("aig_ingest_out_of_range_total", {"field": "salary_k"}) == before + 1
    assert REGISTRY.get_sample_value("aig_ingest_null_total", {"field": "dwell_s"}) == nulls + 1


def test_violation_raises_contract_error_with_every_reason_and_counts(contract: Contract) -> None:
    labels = {"field": "hour_of_day", "reason": "above_max"}
    before = REGISTRY.get_sample_value("aig_ingest_rejected_total", labels) or 0
    with pytest.raises(ContractError) as info:
        handlers.validate(contract, {**good(), "hour_of_day": 30, "device": "fax"})
    assert "hour_of_day: 30 is above the maximum 23" in str(info.value)
    assert "device: 'fax' is not one of" in str(info.value)
    assert REGISTRY.get_sample_value("aig_ingest_rejected_total", labels) == before + 1


def test_bad_contract_definitions_are_refused() -> None:
    with pytest.raises(ContractDefinitionError, match="needs a type"):
        Contract.from_dict({"fields": {"a": {"type": "date"}}})
    with pytest.raises(ContractDefinitionError, match="unknown keys"):
        Contract.from_dict({"fields": {"a": {"type": "string", "maximum": 3}}})
    with pytest.raises(ContractDefinitionError, match="'fields'"):
        Contract.from_dict({"rules": []})


def test_http_helpers_fill_header_and_floats() -> None:
    event = handlers.normalise_http(handlers.with_header({"salary_k": 80, "remote": True}, "ingest-http"))
    assert isinstance(event["salary_k"], float) and event["event_id"] and event["source"] == "ingest-http"
    assert handlers.pause_command({"command": "pause_ingest", "target": "ingest"}, "ingest") is True
    assert handlers.pause_command({"command": "resume_ingest", "target": "ingest"}, "ingest") is False
    assert handlers.pause_command({"command": "pause_ingest", "target": "trainer"}, "ingest") is None
    with pytest.raises(CommandError, match="unknown ingest command 'retrain'"):  # dead-lettered, never ignored
        handlers.pause_command({"command": "retrain", "target": "ingest"}, "ingest")


def test_a_time_far_ahead_of_the_clock_is_rejected_a_little_skew_is_not(contract: Contract) -> None:
    """One event a day ahead would move a member's and a job's windows past every count they hold."""
    now = 1_800_000_000_000
    day_ahead = contract.check({**good(), "ts": now + 86_400_000}, now_ms=now)
    assert [(v.field, v.reason) for v in day_ahead.violations] == [("ts", "in_future")]
    assert "86400 s ahead of the clock" in day_ahead.message()
    assert contract.check({**good(), "ts": now + 240_000}, now_ms=now).ok  # 4 min of clock skew passes
    assert contract.check({**good(), "ts": now - 86_400_000}, now_ms=now).ok  # late data is data
    with pytest.raises(ContractDefinitionError, match="max_ahead_s"):
        Contract.from_dict({"fields": {"name": {"type": "string", "max_ahead_s": 5}}})

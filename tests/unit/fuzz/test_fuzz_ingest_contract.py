"""Ingest under arbitrary input: the data contract, the HTTP normalisation and the body parser either accept
or refuse with their own error naming the field (a 422 or a dead letter), never with another exception
(a 500, or a handler that dies)."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi.exceptions import RequestValidationError
from hypothesis import example, given
from hypothesis import strategies as st

from kit.records import interaction
from services.common.bus import ContractError, Out
from services.common.codec import CodecError, codec_for
from services.common.model.features import RAW_NUMERIC
from services.common.settings import REPO_ROOT
from services.ingest import handlers
from services.ingest.api import parse_batch
from services.ingest.contract import Contract
from tests.unit.fuzz.fuzz_strategies import FUZZ, bodies, json_objects, mutated, nested

CONTRACT = Contract.load()
FIELDS = sorted(CONTRACT.names)
REASONS = {"missing", "null", "type", "below_min", "above_max", "in_future", "not_allowed", "length", "unknown"}
CODEC = codec_for(REPO_ROOT / "schemas")

# Events close to valid reach every rule; arbitrary objects reach the unknown-field and missing-field paths.
events = st.one_of(
    json_objects,
    st.integers(0, 10_000).flatmap(lambda i: mutated(interaction(i), st.sampled_from(FIELDS))),
)


def _far_future() -> dict[str, Any]:
    return {**interaction(1), "ts": 10**400}


def _assert_names_each_field(event: dict[str, Any], error: ContractError) -> None:
    """The error is the contract's: ``field: why`` for each violation, each field one of the event or the contract."""
    violations = CONTRACT.check(event).violations
    assert violations and str(error).startswith(f"{violations[0].field}: ")
    for violation in violations:
        assert violation.field in FIELDS or violation.field in {str(k) for k in event}
        assert violation.reason in REASONS
        assert f"{violation.field}: " in str(error)


@FUZZ
@given(event=events)
@example(event=_far_future())  # an epoch-ms time no double can hold
@example(event={**interaction(1), "ts": -(10**400)})
@example(event={**interaction(1), "years_experience": float("nan")})
def test_the_contract_checks_any_event_without_raising(event: dict[str, Any]) -> None:
    result = CONTRACT.check(event)
    for violation in result.violations:
        assert violation.field in FIELDS or violation.field in {str(k) for k in event}
        assert violation.reason in REASONS, violation
    assert set(result.nulls) <= set(FIELDS) and set(result.out_of_range) <= set(FIELDS)


@FUZZ
@given(event=events, now_ms=st.one_of(st.none(), st.integers(0, 2**63 - 1)))
@example(event=_far_future(), now_ms=int(time.time() * 1000))
def test_the_contract_checks_any_event_against_any_clock(event: dict[str, Any], now_ms: int | None) -> None:
    CONTRACT.check(event, now_ms=now_ms)


@FUZZ
@given(event=events)
@example(event=_far_future())
def test_validate_accepts_or_raises_contract_error_naming_each_field(event: dict[str, Any]) -> None:
    try:
        out = handlers.validate(CONTRACT, event)
    except ContractError as exc:
        _assert_names_each_field(event, exc)
        return
    assert isinstance(out, Out) and out.topic == "interactions.valid" and out.key == event["member_id"]


@FUZZ
@given(event=events)
@example(event={**interaction(1), "salary_k": 10**400})
def test_http_normalisation_gives_an_event_or_a_contract_error_naming_the_field(event: dict[str, Any]) -> None:
    try:
        out = handlers.normalise_http(event)
    except ContractError as exc:
        assert str(exc).split(":", 1)[0] in RAW_NUMERIC
        return
    assert set(out) == set(event) | {"remote"}


@FUZZ
@given(event=events)
@example(event=_far_future())
@example(event={**interaction(1), "member_id": "\ud800"})
def test_the_http_path_accepts_or_refuses_each_event_with_its_reason(event: dict[str, Any]) -> None:
    """What POST /events does with one event before Kafka: ContractError or CodecError are answered 422."""
    try:
        out = handlers.validate(CONTRACT, handlers.normalise_http(handlers.with_header(event, "ingest-http")), "http")
        CODEC.encode("Interaction", out.value)
    except (ContractError, CodecError):
        return


@FUZZ
@given(body=bodies, max_events=st.integers(1, 5))
@example(body=b"", max_events=1)
@example(body=b"NaN", max_events=1)
@example(body=json.dumps({"events": [{}] * 3}).encode(), max_events=2)
@example(body=nested(100_000), max_events=1000)  # legal JSON, deeper than the parser's recursion limit
def test_a_request_body_gives_events_or_a_validation_error(body: bytes, max_events: int) -> None:
    try:
        events = parse_batch(body, max_events)
    except RequestValidationError as exc:
        assert exc.errors() and all(e["loc"][0] == "body" and e["msg"] for e in exc.errors())
        return
    assert 1 <= len(events) <= max_events and all(isinstance(e, dict) for e in events)

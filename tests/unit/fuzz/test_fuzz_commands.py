"""Commands and signed control events under arbitrary input: each parser answers with a result or its own
error (CommandError, UnsignedEvent: dead-lettered and counted as refused), never with another exception.

The input is every record the codec can hand over for the topic (the Avro schema's types, any values):
anything else is a CodecError at the bus before a handler sees it.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import SecretStr

from services.common.commands import (
    CONTEXT_PARAMS,
    SIGNER_KEYS,
    CommandError,
    authenticate_command,
    bool_param,
    canonical_command,
    positive_param,
    sign_command,
)
from services.common.events import header
from services.common.settings import REPO_ROOT, CommonSettings
from services.common.signing import GUARD, SIGNED_FIELDS, UnsignedEvent, authenticate_event, sign_event
from services.inference.handlers import INFERENCE_COMMANDS, control_action
from services.ingest.handlers import PAUSE, RESUME, pause_command
from services.trainer.handlers import TRAINER_COMMANDS, TRAINER_PARAMS, TrainerCommand, parse_command
from tests.unit.fuzz.fuzz_strategies import FUZZ, any_text, avro_values

KEYS = CommonSettings(command_key=SecretStr("guard-key"), operator_key=SecretStr("operator-key"), service_name="t")
SCHEMAS = REPO_ROOT / "schemas"


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.avsc").read_text())
    return loaded


# Values a person or a forger would try for a param: the words, numbers out of any range, and any text.
param_values = st.one_of(
    st.sampled_from(["true", "false", "1", "0", "yes", "no", "TRUE", " 1", "-1", "0.5", "1e3", "inf", "-inf", "nan"]),
    st.sampled_from(["1e400", "1e308", "9" * 30, "9" * 5000, "١٢", "0x10", "1_000"]),
    st.integers().map(str),
    st.floats().map(repr),
    any_text,
)
commands = st.builds(
    lambda base, target, command, params, signer, signature: {
        **base,
        "target": target,
        "command": command,
        "params": params,
        "signer": signer,
        "signature": signature,
    },
    avro_values(_schema("Command")),
    st.one_of(st.sampled_from(["trainer", "inference", "ingest", "t"]), st.text(max_size=10)),
    st.one_of(st.sampled_from([*TRAINER_COMMANDS, *INFERENCE_COMMANDS, PAUSE, RESUME]), st.text(max_size=10)),
    st.dictionaries(
        st.one_of(st.sampled_from(sorted(TRAINER_PARAMS | CONTEXT_PARAMS)), st.text(max_size=10)),
        param_values,
        max_size=4,
    ),
    st.one_of(st.none(), st.sampled_from(sorted(SIGNER_KEYS)), st.text(max_size=10)),
    st.one_of(st.none(), st.text(max_size=70), st.text(st.characters(codec="ascii"), min_size=64, max_size=64)),
)


# Commands for the trainer with only the params it knows: what reaches the reading of each param.
trainer_commands = st.builds(
    lambda base, command, params: {**base, "target": "trainer", "command": command, "params": params},
    commands,
    st.sampled_from(TRAINER_COMMANDS),
    st.dictionaries(st.sampled_from(sorted(TRAINER_PARAMS)), param_values, max_size=3),
)


def _retrain(**params: str) -> dict[str, Any]:
    return {**_forged(""), "params": params}


def _forged(signature: str, signer: str = "healer") -> dict[str, Any]:
    return {
        **header("x"),
        "command": "retrain",
        "target": "trainer",
        "reason": "",
        "incident_id": None,
        "params": {},
        "signer": signer,
        "signature": signature,
    }


@FUZZ
@given(value=st.one_of(commands, trainer_commands))
@example(value=_retrain(window_hours="inf"))
@example(value=_retrain(window_hours="1e12"))
@example(value=_retrain(since_ms="9" * 30))
def test_trainer_commands_parse_to_a_usable_command_or_a_command_error(value: dict[str, Any]) -> None:
    """A parsed command's numbers become a timedelta and a datetime in the trainer: they must fit both."""
    try:
        cmd = parse_command(value)
    except CommandError:
        assert value["target"] == "trainer"
        return
    if cmd is None:
        assert value["target"] != "trainer"
        return
    assert isinstance(cmd, TrainerCommand) and cmd.command in TRAINER_COMMANDS
    if cmd.window_hours is not None:
        assert math.isfinite(cmd.window_hours) and cmd.window_hours > 0
        timedelta(hours=cmd.window_hours)
    if cmd.since_ms is not None:
        datetime.fromtimestamp(cmd.since_ms / 1000, UTC)
    assert cmd.max_rows is None or cmd.max_rows > 0


@FUZZ
@given(
    params=st.dictionaries(st.sampled_from(["x", "y"]), param_values, max_size=2), kind=st.sampled_from([int, float])
)
@example(params={"x": "9" * 5000}, kind=int)
@example(params={"x": "nan"}, kind=float)
def test_number_and_boolean_params_are_read_or_refused_with_command_error(
    params: dict[str, str], kind: type[int] | type[float]
) -> None:
    try:
        number = positive_param(params, "x", kind)
        assert number is None or (isinstance(number, kind) and number > 0)
    except CommandError as exc:
        assert "param x" in str(exc)
    try:
        assert isinstance(bool_param(params, "y", False), bool)
    except CommandError as exc:
        assert "param y" in str(exc)


@FUZZ
@given(value=commands)
def test_ingest_reads_pause_resume_or_nothing_or_a_command_error(value: dict[str, Any]) -> None:
    try:
        pause = pause_command(value, "ingest")
    except CommandError:
        assert value["target"] == "ingest"
        return
    assert pause is None or (value["target"] == "ingest" and pause == (value["command"] == PAUSE))


@FUZZ
@given(value=commands, topic=st.sampled_from(["commands", "model.events", "features"]), since_ms=st.integers(0, 2**62))
def test_inference_control_events_are_an_action_or_a_command_error(
    value: dict[str, Any], topic: str, since_ms: int
) -> None:
    try:
        action = control_action(topic, value, "job_apply", "inference", since_ms)
    except CommandError:
        assert topic == "commands" and value["target"] == "inference"
        return
    assert action in (None, "refresh", "reload")


@FUZZ
@given(value=commands, operator_only=st.sampled_from(["", "a retrain that skips the gate"]))
@example(value=_forged("é" * 64), operator_only="")  # a forged signature that is not hex
@example(value=_forged("\x00"), operator_only="")
def test_a_command_is_authenticated_or_refused_with_command_error(value: dict[str, Any], operator_only: str) -> None:
    try:
        signer = authenticate_command(value, KEYS, operator_only=operator_only)
    except CommandError:
        return
    assert signer in SIGNER_KEYS and value["signer"] == signer


@pytest.mark.parametrize("signer", sorted(SIGNER_KEYS))
@FUZZ
@given(value=commands, tampered=st.sampled_from(["", "reason", "params", "ts", "signature"]), text=any_text)
def test_a_signed_command_passes_and_a_tampered_one_is_refused(
    signer: Any, value: dict[str, Any], tampered: str, text: str
) -> None:
    signed = sign_command({k: v for k, v in value.items() if k not in ("signer", "signature")}, KEYS, signer)
    if tampered:
        changed = {"reason": text, "params": {"p": text}, "ts": -1, "signature": text}[tampered]
        before = canonical_command(signed), signed.get("signature")
        signed[tampered] = changed
        if (canonical_command(signed), signed.get("signature")) == before:
            return  # the same command in another spelling (no reason and an empty one): nothing was changed
    try:
        assert authenticate_command(signed, KEYS) == signer and not tampered
    except CommandError:
        assert tampered


# Control events as the codec hands them over, with any signer and signature.
control_events = st.sampled_from(sorted(SIGNED_FIELDS)).flatmap(
    lambda topic: st.tuples(
        st.just(topic),
        st.builds(
            lambda record, signer, signature: {**record, "signer": signer, "signature": signature},
            avro_values(
                _schema({"incidents": "Incident", "model.events": "ModelPublished", "logs": "LogRecord"}[topic])
            ),
            st.one_of(st.none(), st.just(GUARD), st.text(max_size=8)),
            st.one_of(st.none(), st.text(max_size=70)),
        ),
    )
)


@FUZZ
@given(event=control_events, sign=st.booleans())
@example(event=("incidents", {**header("x"), "signer": GUARD, "signature": "é" * 64}), sign=False)
def test_a_control_event_is_authenticated_or_refused_with_unsigned_event(
    event: tuple[str, dict[str, Any]], sign: bool
) -> None:
    topic, record = event
    if sign:
        record = sign_event(topic, record, KEYS)
    try:
        authenticate_event(topic, record, KEYS)
    except UnsignedEvent:
        assert not sign

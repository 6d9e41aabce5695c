"""Command signatures: who may ask for what, and what a forged or tampered command gets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from services.common.codec import codec_for
from services.common.commands import CommandError, authenticate_command, canonical_command, sign_command
from services.common.events import header
from services.common.settings import REPO_ROOT, CommonSettings

KEYS = CommonSettings(command_key=SecretStr("guard-key"), operator_key=SecretStr("operator-key"), service_name="t")


def command(**extra: Any) -> dict[str, Any]:
    return {
        **header("healer"),
        "command": "retrain",
        "target": "trainer",
        "reason": "r",
        "incident_id": None,
        "params": {"gated": "true"},
        **extra,
    }


def test_the_guard_and_the_operator_sign_and_are_recognised() -> None:
    assert authenticate_command(sign_command(command(), KEYS), KEYS) == "healer"
    assert authenticate_command(sign_command(command(), KEYS, "operator"), KEYS) == "operator"


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        (lambda c: {**c, "params": {"gated": "false"}}, "signature does not match"),
        (lambda c: {**c, "target": "ingest"}, "signature does not match"),
        (lambda c: {**c, "signer": "operator"}, "signature does not match"),
        (lambda c: {k: v for k, v in c.items() if k != "signature"}, "unsigned"),
        (lambda c: {**c, "signer": "root"}, "unsigned"),
    ],
)
def test_a_changed_or_stripped_signature_is_refused(tamper: Any, words: str) -> None:
    with pytest.raises(CommandError, match=words):
        authenticate_command(tamper(sign_command(command(), KEYS)), KEYS)


def test_risky_commands_need_the_operator_and_a_missing_key_refuses_all() -> None:
    why = "a retrain that skips the gate"
    with pytest.raises(CommandError, match="needs the operator key"):
        authenticate_command(sign_command(command(), KEYS), KEYS, operator_only=why)
    assert authenticate_command(sign_command(command(), KEYS, "operator"), KEYS, operator_only=why) == "operator"
    no_keys = CommonSettings(command_key=None, operator_key=None)
    with pytest.raises(CommandError, match="holds no healer key"):
        authenticate_command(sign_command(command(), KEYS), no_keys)
    with pytest.raises(CommandError, match="cannot sign as operator"):
        sign_command(command(), no_keys, "operator")


def test_the_signature_survives_the_avro_round_trip_and_old_commands_are_unsigned() -> None:
    codec = codec_for(REPO_ROOT / "schemas")
    signed = sign_command(command(), KEYS)
    decoded = codec.decode(codec.encode("Command", signed), "Command")
    assert canonical_command(decoded) == canonical_command(signed)
    assert authenticate_command(decoded, KEYS) == "healer"
    old = {k: v for k, v in command().items()}
    old_decoded = codec.decode(codec.encode("Command", old), "Command")
    assert old_decoded["signer"] is None and old_decoded["signature"] is None
    with pytest.raises(CommandError, match="unsigned"):
        authenticate_command(old_decoded, KEYS)

"""The real trainer refuses forged commands: an ungated retrain that is unsigned, signed with the
guard's own key, or signed with a wrong key leaves the registry as it was and is dead-lettered with
the reason; the same command signed with the operator key is obeyed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr

from kit.kafka import read_topic
from kit.procs import Proc
from services.common.bus import EventProducer
from services.common.commands import sign_command
from services.common.events import header
from services.common.settings import CommonSettings
from services.trainer.synthetic import make_rows
from tests.integration.pipeline_model.trainer_itest_support import has, insert_rows, live, model_events, send_command

pytestmark = pytest.mark.infra

UNGATED = {"gated": "false"}


def test_a_forged_ungated_retrain_changes_nothing_and_is_audited_as_refused(
    start: Callable[..., Proc], schema_dsn: str, topic_prefix: str
) -> None:
    insert_rows(schema_dsn, make_rows(1200, seed=41))
    trainer = start("trainer", AIG_FRESH_DATA_WAIT_S="0")
    assert has("live", 1)(model_events(topic_prefix, has("live", 1))), f"no first model; read {trainer.log}"
    settings = CommonSettings(topic_prefix=topic_prefix, log_to_kafka=False)

    unsigned = send_command(topic_prefix, "retrain", "trainer", UNGATED, signer=None)
    by_the_guard = send_command(topic_prefix, "retrain", "trainer", UNGATED, signer="healer")
    wrong_key = sign_command(
        {**header("attacker"), "command": "retrain", "target": "trainer", "params": UNGATED},
        CommonSettings(operator_key=SecretStr("guessed")),
        "operator",
    )
    tampered = sign_command({**header("operator"), "command": "retrain", "target": "trainer"}, settings, "operator")
    tampered["params"] = UNGATED  # signed gated, then turned ungated on the way
    producer = EventProducer(settings)
    for record in (wrong_key, tampered):
        producer.produce("commands", record, key="trainer")
    producer.flush(30)

    dead = read_topic(settings, "deadletter", until=4, timeout_s=60)
    reasons = sorted(d["error"] for d in dead if d["topic"] == "commands")
    assert len(reasons) == 4, f"{reasons}; read {trainer.log}"
    assert sum("unsigned 'retrain' command" in r for r in reasons) == 1
    assert sum("a retrain that skips the gate needs the operator key" in r for r in reasons) == 1
    assert sum("operator signature does not match" in r for r in reasons) == 2
    assert all(d["error_type"] == "contract" for d in dead)
    current = live(schema_dsn)
    assert current is not None and current.version == 1, "a forged command changed the live model"
    events = model_events(topic_prefix, lambda evs: False, timeout_s=3)
    assert {e.get("command_id") for e in events} & {unsigned, by_the_guard} == set()

    obeyed = send_command(topic_prefix, "retrain", "trainer", UNGATED, signer="operator")
    events = model_events(topic_prefix, lambda evs: any(e["command_id"] == obeyed for e in evs), timeout_s=120)
    answers = [e for e in events if e["command_id"] == obeyed]
    assert answers and answers[0]["status"] == "live", f"the operator's command was not obeyed; read {trainer.log}"

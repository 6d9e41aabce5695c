"""The real trainer process answers every command on its own, carrying the command's id: retrains sent
together train one after the other, and a command it cannot obey is refused, not left unanswered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kit.procs import Proc
from services.common.events import now_ms
from services.trainer.synthetic import make_rows
from tests.integration.pipeline_model.trainer_itest_support import has, insert_rows, model_events, send_command

pytestmark = pytest.mark.infra


def answered(ids: set[str]) -> Callable[[list[dict[str, Any]]], bool]:
    """True once each of ``ids`` is carried by at least one event."""

    def done(events: list[dict[str, Any]]) -> bool:
        return ids <= {e["command_id"] for e in events}

    return done


def test_commands_sent_together_each_get_their_own_answer(
    start: Callable[..., Proc], schema_dsn: str, topic_prefix: str
) -> None:
    insert_rows(schema_dsn, make_rows(1200, seed=41))
    trainer = start("trainer", AIG_FRESH_DATA_WAIT_S="0")
    first_model = model_events(topic_prefix, has("live", 1))
    assert has("live", 1)(first_model), f"no first model within 90 s; read {trainer.log}"
    assert first_model[0]["command_id"] is None  # the trainer acted on its own

    first = send_command(topic_prefix, "retrain", "trainer")
    second = send_command(topic_prefix, "retrain", "trainer")  # arrives while the first one trains
    starved = send_command(topic_prefix, "retrain", "trainer", {"since_ms": str(now_ms() + 3_600_000)})
    rollback = send_command(topic_prefix, "rollback", "trainer")
    ids = {first, second, starved, rollback}
    events = model_events(topic_prefix, lambda evs: answered(ids)(evs) and len(evs) >= 6)
    assert answered(ids)(events), (
        f"commands without an answer after 90 s: {ids - {e['command_id'] for e in events}}; read {trainer.log}"
    )
    by_command: dict[str, list[tuple[str, int]]] = {}
    for e in events[1:]:
        by_command.setdefault(e["command_id"], []).append((e["status"], e["version"]))
    assert by_command == {
        first: [("live", 2)],
        second: [("live", 3)],  # trained after the first, gated against the version the first made live
        starved: [("refused", 3)],  # nothing changed: the live version stays
        rollback: [("rolled_back", 3), ("live", 2)],
    }, f"read {trainer.log}"
    refusal = next(e for e in events if e["command_id"] == starved)
    assert refusal["reason"].startswith("retrain not obeyed: 0 labelled rows"), refusal["reason"]

    # a replayed command re-sends its own answer, not a new one
    send_command(topic_prefix, "retrain", "trainer", event_id=starved)
    replayed = model_events(topic_prefix, lambda evs: len(evs) >= 7)
    assert [(e["event_id"], e["command_id"]) for e in replayed[6:]] == [(refusal["event_id"], starved)], (
        f"read {trainer.log}"
    )
    assert trainer.stop() == 0, trainer.tail()

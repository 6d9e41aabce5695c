"""What a stop in the middle of a batch commits: everything handled, nothing unhandled, per topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import Message

from services.common.bus import Event
from services.common.bus.processor import _offsets_after_stop


@dataclass
class _Msg:
    """The four Message methods the commit logic reads (a real Message cannot be built by hand)."""

    t: str
    p: int
    o: int

    def topic(self) -> str:
        return self.t

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.o

    def error(self) -> Any:
        return None


def _event(topic: str, partition: int, offset: int) -> Event:
    return Event(topic, partition, offset, None, {}, b"", 0)


def test_two_topics_at_the_same_partition_and_offset_are_committed_apart() -> None:
    msgs = [_Msg("run.A", 0, 5), _Msg("run.B", 0, 5), _Msg("run.A", 0, 6), _Msg("run.B", 0, 6)]
    # A@5 and A@6 were handled; the stop came before B@5, so B@5 and B@6 are unfinished.
    unfinished = [_event("B", 0, 5), _event("B", 0, 6)]
    offsets = _offsets_after_stop(cast(list[Message], msgs), unfinished, lambda t: f"run.{t}")
    assert {(tp.topic, tp.partition): tp.offset for tp in offsets} == {("run.A", 0): 7, ("run.B", 0): 5}


def test_an_unfinished_event_holds_back_only_its_own_partition() -> None:
    msgs = [_Msg("run.A", 0, 5), _Msg("run.A", 1, 9), _Msg("run.B", 1, 9)]
    offsets = _offsets_after_stop(cast(list[Message], msgs), [_event("A", 1, 9)], lambda t: f"run.{t}")
    assert {(tp.topic, tp.partition): tp.offset for tp in offsets} == {
        ("run.A", 0): 6,
        ("run.A", 1): 9,
        ("run.B", 1): 10,
    }

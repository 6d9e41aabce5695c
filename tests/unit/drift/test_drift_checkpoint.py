"""The drift checkpoint is data: hostile blobs are refused with a reason and change nothing.

The checkpoint sits in Redis, which another process can write; restoring it must never run code.
"""

from __future__ import annotations

import json
import os
import pickle
from collections import Counter, deque
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kit.replay import Pipeline
from services.drift import checkpoint
from services.drift.config import load_thresholds
from services.drift.handlers import DriftMonitor
from services.drift.join import MemoryPendingStore
from tests.unit.drift.drift_fixtures import fv, monitor


class _RunsCode:
    """What an attacker would write: a pickle whose loading runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _fed_monitor() -> DriftMonitor:
    rng = np.random.default_rng(3)
    mon = monitor()
    for i in range(1500):
        mon.handle("features", fv(i, {"salary_k": float(60 + 15 * rng.standard_normal())}, {"device": "web"}))
    return mon


def _tagged(tree: Any) -> bytes:
    return checkpoint.MAGIC + json.dumps(tree).encode()


def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    blob = pickle.dumps({"version": 4, "state": _RunsCode(marker), "stats": {}})
    mon = _fed_monitor()
    before = checkpoint.dumps(mon.state)
    assert not mon.restore(blob)
    assert not marker.exists(), "restoring the checkpoint ran the attacker's command"
    assert mon.stats["bad_checkpoint"] == 1
    assert checkpoint.dumps(mon.state) == before, "a refused checkpoint changed the running state"


@pytest.mark.parametrize(
    ("tree", "reason"),
    [
        ({"$": "obj", "id": 0, "cls": "posix:system", "args": ["touch /tmp/x"], "state": None}, "allowlist"),
        ({"$": "obj", "id": 0, "cls": "builtins:eval", "args": ["1"], "state": None}, "allowlist"),
        ({"$": "model", "id": 0, "cls": "pydantic.main:BaseModel", "v": {}}, "thresholds model"),
        ({"$": "global", "name": "os.system"}, "unknown node tag"),
        ({"$": "ref", "id": 7}, "unknown object"),
        ([1, 2, 3], "unexpected node"),
    ],
)
def test_a_tagged_blob_naming_anything_off_the_allowlist_is_refused(tree: Any, reason: str) -> None:
    with pytest.raises(checkpoint.CheckpointError, match=reason):
        checkpoint.loads(_tagged(tree))


def test_a_method_can_only_be_bound_by_name_on_an_allowed_object() -> None:
    owner = {"$": "obj", "id": 1, "cls": "river.stats.mean:Mean", "args": [], "state": None}
    for name in ("__init__", "__class__", "nope"):
        with pytest.raises(checkpoint.CheckpointError, match="has no method"):
            checkpoint.loads(_tagged({"$": "method", "id": 0, "self": owner, "name": name}))


def test_a_blob_over_the_size_limit_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "MAX_BLOB_BYTES", 1000)
    with pytest.raises(checkpoint.CheckpointError, match="exceeds"):
        checkpoint.loads(checkpoint.MAGIC + b" " * 1000)


def test_garbage_old_pickles_and_bombs_are_refused_with_a_reason() -> None:
    mon = monitor()
    old_pickle = pickle.dumps({"version": 3, "state": mon.state})
    for blob, reason in [
        (b"not a checkpoint", "format marker"),
        (old_pickle, "format marker"),
        (checkpoint.MAGIC + b"\x00\x01", "not JSON"),
        (checkpoint.MAGIC + b"[" * 100_000 + b"]" * 100_000, "nests too deep"),
    ]:
        with pytest.raises(checkpoint.CheckpointError, match=reason):
            checkpoint.loads(blob)
    assert not mon.restore(checkpoint.dumps({"version": 4, "state": "a string", "stats": {}}))
    assert not mon.restore(checkpoint.dumps({"version": 99, "state": mon.state, "stats": {}}))
    assert mon.stats["bad_checkpoint"] == 2


def test_a_foreign_type_cannot_be_written_either() -> None:
    with pytest.raises(checkpoint.CheckpointError, match="allowlist"):
        checkpoint.dumps({"f": Path("/etc/passwd")})


def test_containers_shared_references_and_cycles_survive() -> None:
    shared = [1.5, float("inf"), None]
    cyclic: list[Any] = ["self"]
    cyclic.append(cyclic)
    value = {
        "a": shared,
        "b": shared,
        (1, "k"): deque([1, 2], maxlen=5),
        "c": Counter({"x": 3}),
        "s": {1, 2},
        "f": frozenset({"z"}),
        "raw": b"\x00\xff",
        "cyc": cyclic,
    }
    back = checkpoint.loads(checkpoint.dumps(value))
    assert back["a"] is back["b"] and back["a"] == shared
    assert back[(1, "k")] == deque([1, 2]) and back[(1, "k")].maxlen == 5
    assert back["c"] == Counter({"x": 3}) and isinstance(back["c"], Counter)
    assert back["s"] == {1, 2} and back["f"] == frozenset({"z"}) and back["raw"] == b"\x00\xff"
    assert back["cyc"][1] is back["cyc"]


def test_a_seasonal_monitor_resumes_from_its_checkpoint_exactly() -> None:
    """Every detector kind (season references, skew, error rate, ADWIN, DDM) goes through the format."""
    pipe = Pipeline(seed=3, time_scale=720, dt_ms=1000 / 150)
    pipe.skip(2000)
    model = pipe.model()
    batches = list(pipe.batches(12_000))

    def fresh() -> DriftMonitor:
        th = load_thresholds()
        th = th.model_copy(update={"season": th.season.model_copy(update={"period_s": 120})})
        mon = DriftMonitor(th, MemoryPendingStore())
        mon.handle("model.events", model)
        return mon

    def feed(mon: DriftMonitor, part: list[Any]) -> list[str]:
        out: list[dict[str, Any]] = []
        for b in part:
            for topic, events in (("features", b.features), ("predictions", b.predictions), ("labels", b.labels)):
                for e in events:
                    out += mon.handle(topic, e)
        return [i["event_id"] for i in out]

    whole = feed(fresh(), batches)
    first = fresh()
    head = feed(first, batches[:12])
    assert first.state.errors and any(fs.skew is not None for fs in first.state.features.values())
    resumed = fresh()
    assert resumed.restore(first.snapshot()), resumed.stats
    assert head + feed(resumed, batches[12:]) == whole

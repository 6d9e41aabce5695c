"""A drain3 template state is data: one that names a function or a foreign class is refused unrun."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest
from drain3.memory_buffer_persistence import MemoryBufferPersistence

from services.logclassifier.templates import TemplateStore, UnsafeState, check_drain_state


def _store(persistence: MemoryBufferPersistence) -> TemplateStore:
    return TemplateStore(persistence, snapshot_interval_s=0.0)


def _pack(doc: object) -> bytes:
    return base64.b64encode(zlib.compress(json.dumps(doc).encode()))


def test_a_real_state_round_trips() -> None:
    saved = MemoryBufferPersistence()
    first = _store(saved)
    for line in ("connection to 10.0.0.1 refused", "connection to 10.0.0.2 refused", "disk full on /var"):
        first.add_masked(first.mask(line))
    first.save()
    check_drain_state(zlib.decompress(base64.b64decode(saved.state)))
    again = _store(saved)
    assert again.size == first.size == 2


@pytest.mark.parametrize(
    "evil",
    [
        {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": ["touch {marker}"]}]},
        {"py/reduce": [{"py/type": "subprocess.Popen"}, {"py/tuple": [["touch", "{marker}"]]}]},
        {"py/object": "pathlib.PosixPath", "py/state": None},
        {"py/repr": "os/os.system('touch {marker}')"},
        {'json://{"py/reduce": [{"py/function": "os.system"}, {"py/tuple": ["touch {marker}"]}]}': 1},
    ],
)
def test_a_state_that_would_run_code_is_refused_and_not_run(evil: dict[str, object], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    doc = json.loads(json.dumps(evil).replace("{marker}", str(marker)))
    with pytest.raises(UnsafeState):
        check_drain_state(json.dumps(doc))
    store = _store(MemoryBufferPersistence())
    store.miner.persistence_handler.state = _pack(doc)
    store.miner.load_state()
    assert not marker.exists(), "loading the template state ran the attacker's command"
    assert store.size == 0

"""Falsifying examples printed in full.

schemathesis (a dev dependency, loaded as a pytest plugin) swaps Hypothesis' printer for one that prints
nothing, to speed up its own runs; these tests put Hypothesis' own printer back while they run, so that a
failure shows the input that caused it.
"""

from __future__ import annotations

import pytest
from hypothesis import core
from hypothesis.vendor import pretty


@pytest.fixture(autouse=True)
def hypothesis_printer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "RepresentationPrinter", pretty.RepresentationPrinter)

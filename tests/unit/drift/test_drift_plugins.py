"""Every drift detector in the registry keeps the plugin contract (services.drift.detectors.base).

A new detector fails here until it is built like the others, is documented, survives a checkpoint,
stays quiet on a stable stream of its kind of value and signals a change of it.
"""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from services.drift.config import NumericThresholds
from services.drift.detectors import REGISTRY, Detector, DetectorContext, ProfileError, Signal, create
from tests.support.plugins import built_like_a_plugin
from tests.unit.drift.drift_fixtures import numeric_profile

Stream = Callable[[random.Random], Any]

# The stable stream of each detector's kind of value, and the same stream after a change it must see.
STABLE: dict[str, Stream] = {
    "numeric": lambda rng: rng.gauss(50.0, 5.0),
    "categorical": lambda rng: rng.choices(["eu", "us", "apac"], weights=[5, 3, 2])[0],
    "error_rate": lambda rng: rng.random() < 0.1,
    "skew": lambda rng: rng.gauss(50.0, 5.0),
    "quality": lambda rng: "null" if rng.random() < 0.02 else "",
}
CHANGED: dict[str, Stream] = {
    "numeric": lambda rng: rng.gauss(65.0, 5.0),  # +3 std
    "categorical": lambda rng: rng.choices(["eu", "us", "apac", "latam"], weights=[2, 3, 2, 3])[0],
    "error_rate": lambda rng: rng.random() < 0.4,
    "skew": lambda rng: 1000 * rng.gauss(50.0, 5.0),  # other units
    "quality": lambda rng: "null" if rng.random() < 0.6 else "",
}
STABLE_EVENTS = 8000  # past every warm-up (the error rate's longest window is 5000 labels)
CHANGED_EVENTS = 3000
SIGNAL_KINDS = {"data_drift", "concept_drift", "skew", "data_quality"}

# One context for every detector: each takes what it uses (the season, the live model's profile).
PROFILE = numeric_profile("x", np.random.default_rng(0).normal(50.0, 5.0, 20_000))
CONTEXT = DetectorContext(profile=PROFILE)

KINDS = sorted(REGISTRY)


def feed(det: Detector[Any, Any], stream: Stream, n: int, rng: random.Random, t0: int = 0) -> list[Any]:
    """Every return of ``update`` (event times one second apart)."""
    return [det.update(stream(rng), t0 + i * 1000) for i in range(n)]


def test_every_detector_has_its_streams_here() -> None:
    assert set(STABLE) == set(CHANGED) == set(REGISTRY), "a new detector needs its stable and changed streams"


@pytest.mark.parametrize("kind", KINDS)
def test_detector_is_documented_and_built_like_every_other(kind: str) -> None:
    cls = REGISTRY[kind]
    params = built_like_a_plugin(cls, kind, Detector)
    assert list(params) == ["self", "feature", "cfg", "context"]
    assert params["context"].default is None
    assert issubclass(cls.config, BaseModel)
    cfg = cls.config()  # its defaults are valid thresholds
    det = create(kind, "x", cfg, CONTEXT)
    assert type(det) is cls and det.feature == "x" and det.cfg is cfg


@pytest.mark.parametrize("kind", KINDS)
def test_detector_refuses_the_thresholds_of_another(kind: str) -> None:
    other = next(c.config for c in REGISTRY.values() if c.config is not REGISTRY[kind].config)
    with pytest.raises(TypeError, match=kind):
        create(kind, "x", other(), CONTEXT)


@pytest.mark.parametrize("kind", KINDS)
def test_detector_without_a_context_works_or_names_what_it_lacks(kind: str) -> None:
    try:
        det = create(kind, "x", REGISTRY[kind].config())
    except ProfileError as exc:
        assert "'x'" in str(exc)
    else:
        assert isinstance(det, REGISTRY[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_detector_is_quiet_on_a_stable_stream_and_signals_a_change(kind: str) -> None:
    rng = random.Random(kind)
    det = create(kind, "x", REGISTRY[kind].config(), CONTEXT)
    stable = feed(det, STABLE[kind], STABLE_EVENTS, rng)
    assert [s for s in stable if s is not None] == [], f"{kind}: false signal on a stable stream"
    # A checkpoint mid-stream: the restored detector carries on exactly where it was.
    restored = pickle.loads(pickle.dumps(det))
    t0 = STABLE_EVENTS * 1000
    changed = feed(det, CHANGED[kind], CHANGED_EVENTS, random.Random(1), t0)
    assert feed(restored, CHANGED[kind], CHANGED_EVENTS, random.Random(1), t0) == changed
    assert all(s is None or isinstance(s, Signal) for s in changed)
    signals = [s for s in changed if s is not None]
    assert signals, f"{kind}: no signal on a changed stream"
    first = signals[0]
    assert first.phase == "raised" and first.kind in SIGNAL_KINDS and first.feature == "x"
    assert first.summary and all(isinstance(v, str) for v in first.evidence.values())


def test_unknown_detector_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown detector 'kswin'; known: categorical, error_rate"):
        create("kswin", "x", NumericThresholds())

"""Each detector alone: fires on a real change, stays quiet on stable data."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from services.drift.config import (
    DEFAULT_PATH,
    CategoricalThresholds,
    ErrorThresholds,
    NumericThresholds,
    QualityThresholds,
    SkewThresholds,
    Thresholds,
    load_thresholds,
    parse_thresholds,
)
from services.drift.detectors import REGISTRY, DetectorContext, ProfileError, Signal, create
from services.drift.detectors.skew import SkewDetector
from services.drift.stats.distance import js_divergence, psi
from tests.unit.drift.drift_fixtures import numeric_profile


class Detector(Protocol):
    """What ``run`` needs of a detector: each one takes its own kind of value (float, str, bool)."""

    def update(self, value: Any, /) -> Signal | None: ...


def run(det: Detector, values: Iterable[Any]) -> list[tuple[int, Signal]]:
    return [(i, s) for i, v in enumerate(values) if (s := det.update(v)) is not None]


def skew(feature: str, profile: dict[str, Any]) -> SkewDetector:
    """A skew detector judged against ``profile``, built as the monitor builds it."""
    return create("skew", feature, SkewThresholds(), DetectorContext(profile=profile))


def raised(hits: list[tuple[int, Signal]]) -> list[tuple[int, Signal]]:
    """The signals that open an incident (a persisting problem also re-signals, as ``persisting``)."""
    return [(i, s) for i, s in hits if s.phase == "raised"]


@pytest.mark.parametrize("shift", [1.0, 2.0])
def test_numeric_mean_shift_fires_once_and_names_the_feature(shift: float) -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([50 + 5 * rng.standard_normal(4000), 50 + 5 * shift + 5 * rng.standard_normal(3000)])
    hits = run(create("numeric", "salary_k", NumericThresholds()), x.tolist())
    assert len(hits) == 1
    i, signal = hits[0]
    assert 4000 <= i < 4300
    assert signal.kind == "data_drift" and signal.feature == "salary_k"
    assert float(signal.evidence["before_mean"]) == pytest.approx(50, abs=1)
    # "after" is estimated from the few events since the change: right direction and size, not exact
    assert 0.5 * shift <= float(signal.evidence["shift_std"]) <= 2 * shift
    assert "salary_k" in signal.summary and "mean moved" in signal.summary


def test_numeric_variance_shift_fires() -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.standard_normal(3000), 3 * rng.standard_normal(2000)])
    hits = run(create("numeric", "dwell_s", NumericThresholds()), x.tolist())
    assert len(hits) == 1 and hits[0][0] >= 3000
    assert float(hits[0][1].evidence["std_ratio"]) > 1.5


def test_numeric_stable_stream_is_quiet() -> None:
    rng = np.random.default_rng(3)
    assert run(create("numeric", "x", NumericThresholds()), (7 + rng.standard_normal(60_000)).tolist()) == []


def test_numeric_constant_feature_then_change() -> None:
    hits = run(create("numeric", "c", NumericThresholds()), [3.0] * 2000 + [4.0] * 500)
    assert len(hits) == 1 and hits[0][0] >= 2000


def test_categorical_mix_change_fires_and_stable_is_quiet() -> None:
    rng = np.random.default_rng(4)
    before = rng.choice(["eu", "us", "apac"], size=4000, p=[0.5, 0.3, 0.2]).tolist()
    after = rng.choice(["eu", "us", "apac", "latam"], size=3000, p=[0.2, 0.3, 0.2, 0.3]).tolist()
    det = create("categorical", "region", CategoricalThresholds())
    hits = run(det, before + after)
    assert len(hits) == 1 and hits[0][0] >= 4000
    assert "latam" in hits[0][1].summary
    stable = rng.choice(["eu", "us", "apac"], size=30_000, p=[0.5, 0.3, 0.2]).tolist()
    assert run(create("categorical", "region", CategoricalThresholds()), stable) == []


def test_error_rate_increase_fires_stable_is_quiet() -> None:
    rng = np.random.default_rng(5)
    errors = (rng.random(6000) < np.where(np.arange(6000) < 3000, 0.1, 0.3)).tolist()
    all_hits = run(create("error_rate", "job_apply", ErrorThresholds()), errors)
    hits = raised(all_hits)
    assert len(hits) == 1 and 3000 <= hits[0][0] < 3600
    assert hits[0][1].kind == "concept_drift"
    assert float(hits[0][1].evidence["after_error_rate"]) > 0.2
    # The degradation persists: it keeps being reported, against the reference it was raised on.
    later = [s for _, s in all_hits[1:]]
    assert later and {s.phase for s in later} == {"persisting"}
    assert all(float(s.evidence["before_error_rate"]) < 0.15 for s in later)
    assert run(create("error_rate", "m", ErrorThresholds()), (rng.random(40_000) < 0.1).tolist()) == []


def test_error_rate_recovery_rearms_and_a_second_degradation_is_raised_again() -> None:
    rng = np.random.default_rng(8)
    rates = [0.1] * 3000 + [0.35] * 2000 + [0.1] * 3000 + [0.35] * 2000
    hits = run(create("error_rate", "m", ErrorThresholds()), (rng.random(len(rates)) < np.array(rates)).tolist())
    phases = [(i, s.phase) for i, s in hits]
    opened = [i for i, p in phases if p == "raised"]
    assert len(opened) == 2 and 3000 <= opened[0] < 3600 and 8000 <= opened[1] < 8600, phases
    recovered = [i for i, p in phases if p == "recovered"]
    assert len(recovered) == 1 and 5000 <= recovered[0] < 6500, phases


def test_skew_from_unit_change_against_profile() -> None:
    rng = np.random.default_rng(6)
    train = 60 + 15 * rng.standard_normal(5000)
    profile = numeric_profile("salary_k", train)
    same = skew("salary_k", profile)
    assert run(same, (60 + 15 * rng.standard_normal(5000)).tolist()) == []
    det = skew("salary_k", profile)
    bad = (1000 * (60 + 15 * rng.standard_normal(3000))).tolist()
    hits = run(det, bad)
    assert len(raised(hits)) == 1  # the skew persists: one incident, then "persisting" reminders
    i, s = hits[0]
    assert i < 100 and s.kind == "skew" and float(s.evidence["scale_factor"]) == pytest.approx(1000, rel=0.2)
    assert "unit" in s.summary and {x.phase for _, x in hits[1:]} <= {"persisting"}
    back = run(det, (60 + 15 * rng.standard_normal(1500)).tolist())
    assert [x.phase for _, x in back] == ["recovered"]


def test_categorical_skew_is_an_encoding_change_not_a_mix_change() -> None:
    rng = np.random.default_rng(9)
    profile = {"kind": "categorical", "categories": ["na", "eu", "apac"], "fractions": [0.5, 0.3, 0.2]}
    mix = skew("region", profile)
    assert run(mix, rng.choice(["na", "eu", "apac"], size=3000, p=[0.1, 0.1, 0.8]).tolist()) == []
    upper = skew("region", profile)
    hits = run(upper, rng.choice(["NA", "eu", "apac"], size=3000, p=[0.5, 0.3, 0.2]).tolist())
    assert len(raised(hits)) == 1 and float(hits[0][1].evidence["unseen_share"]) > 0.3


def test_skew_accepts_outer_edges_and_rejects_bad_profiles() -> None:
    ok = {"feature": "f", "kind": "numeric", "edges": [0, 1, 2, 3], "fractions": [0.3, 0.4, 0.3]}
    assert skew("f", ok).edges == [1.0, 2.0]
    with pytest.raises(ProfileError):
        skew("f", {"kind": "numeric", "edges": [1.0], "fractions": [0.2, 0.3, 0.5]})
    with pytest.raises(ProfileError):
        skew("f", {"kind": "numeric", "edges": [], "fractions": []})


def test_quality_null_burst_fires_once_and_rearms() -> None:
    q = create("quality", "dwell_s", QualityThresholds(), DetectorContext(profile={"null_rate": 0.01}))
    reasons = [""] * 500 + ["null"] * 150 + [""] * 600 + ["nan"] * 150
    hits = run(q, reasons)
    assert len(hits) == 2  # two separate bursts, not one signal per bad value
    assert hits[0][1].kind == "data_quality" and "null" in hits[0][1].summary
    assert q.classify(None) == "null" and q.classify(float("nan")) == "nan" and q.classify(1.0) == ""


def test_distances() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0)
    assert psi([0.5, 0.5], [0.9, 0.1]) > 0.5
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1)
    assert js_divergence([1, 2, 3], [1, 2, 3]) == pytest.approx(0)


def test_thresholds_file_loads_and_rejects_unknown_keys() -> None:
    th = load_thresholds()
    assert th.for_feature("skill_match").quality.valid_max == 1.0
    assert th.for_feature("unknown_feature").numeric.warmup == th.defaults.numeric.warmup
    with pytest.raises(ValueError, match="unknown keys"):
        parse_thresholds({"defaults": {"numeric": {"adwin_dleta": 0.1}}})
    assert set(REGISTRY) >= {"numeric", "categorical", "error_rate", "skew", "quality"}
    with pytest.raises(ValueError):
        create("kswin", "x", NumericThresholds())


def test_thresholds_file_holds_overrides_only() -> None:
    """Each default is written once, in the model: a value in the file that equals it is noise."""
    raw = yaml.safe_load(DEFAULT_PATH.read_text())
    th, model = load_thresholds(), Thresholds()

    def equal(where: str, spec: dict[str, Any], default: Any) -> list[str]:
        return [f"{where}.{k}" for k, v in spec.items() if v == getattr(default, k)]

    same: list[str] = []
    for section, spec in (raw.get("defaults") or {}).items():
        same += equal(f"defaults.{section}", spec, getattr(model.defaults, section))
    for name, sections in (raw.get("features") or {}).items():
        for section, spec in sections.items():  # a feature inherits the file's defaults
            same += equal(f"features.{name}.{section}", spec, getattr(th.defaults, section))
    for section in ("error", "incident", "season"):
        same += equal(section, raw.get(section) or {}, getattr(model, section))
    assert same == [], f"values equal to their default: {same}"


def test_thresholds_refuse_values_out_of_range_and_stay_frozen() -> None:
    with pytest.raises(ValueError, match=r"defaults\.numeric\.warmup: Input should be greater than or equal to 1"):
        parse_thresholds({"defaults": {"numeric": {"warmup": 0}}})
    with pytest.raises(ValueError, match=r"features\.f\.quality: .*valid_min 2\.0 is above valid_max 1\.0"):
        parse_thresholds({"features": {"f": {"quality": {"valid_min": 2, "valid_max": 1}}}})
    with pytest.raises(ValueError, match=r"thresholds: unknown sections \['bogus'\]"):
        parse_thresholds({"bogus": {}})
    th = parse_thresholds({"defaults": {"numeric": {"warmup": 50}}, "features": {"f": {"numeric": {"clip_z": 3}}}})
    assert th.for_feature("f").numeric.warmup == 50 and th.for_feature("f").numeric.clip_z == 3.0
    with pytest.raises(ValidationError):
        th.season.period_s = 60.0
    seasonal = th.model_copy(update={"season": th.season.model_copy(update={"period_s": 60.0})})
    assert seasonal.season.period_s == 60.0 and th.season.period_s == 0.0


def test_error_reference_keeps_learning_after_the_warm_up() -> None:
    """The reference rate is not frozen on a short warm-up: every event that left the recent window joins it."""
    rng = np.random.default_rng(11)
    cfg = ErrorThresholds()
    det = create("error_rate", "m", cfg)
    longest = cfg.confirm_window * 25
    assert run(det, (rng.random(cfg.warmup + longest + 5000) < 0.07).tolist()) == []
    assert len(det.reference) == cfg.warmup + 5000  # every label that left the longest window
    assert abs(det.base_rate - 0.07) < 0.01
    hits = run(det, (rng.random(1000) < 0.25).tolist())
    assert len(raised(hits)) == 1 and hits[0][0] < 400
    assert int(hits[0][1].evidence["reference_window"]) >= cfg.warmup + 5000


def test_numeric_skewed_and_bimodal_stable_streams_are_quiet() -> None:
    """Normal scores: a lognormal with 15% far-away outliers looks standard normal to the detectors."""
    rng = np.random.default_rng(5)
    n = 40_000
    far = rng.random(n) < 0.15
    values = np.where(far, rng.normal(4000, 800, n), rng.lognormal(4, 1, n))
    assert run(create("numeric", "distance_km", NumericThresholds()), values.tolist()) == []
    counts = rng.poisson(3, n) * (rng.random(n) < 0.5)  # a zero-inflated count feature
    assert run(create("numeric", "views", NumericThresholds()), counts.astype(float).tolist()) == []
    moved = np.concatenate([values[:5000], values[5000:7000] * 1.8])
    hits = run(create("numeric", "distance_km", NumericThresholds()), moved.tolist())
    assert len(hits) == 1 and hits[0][0] >= 5000


def test_a_moderate_shift_against_the_profile_is_drift_not_skew() -> None:
    """+2 std moves the live window far from the training bins but keeps its scale: drift, not skew."""
    import random

    rng = random.Random(3)
    train = sorted(rng.gauss(90.0, 30.0) for _ in range(5000))
    edges = [train[int(len(train) * q / 10)] for q in range(1, 10)]
    profile = {"kind": "numeric", "edges": edges, "fractions": [0.1] * 10, "mean": 90.0, "std": 30.0}
    shifted = skew("salary_k", profile)
    assert [s for _ in range(3000) if (s := shifted.update(rng.gauss(150.0, 30.0)))] == []
    units = skew("salary_k", profile)
    hits = [s for _ in range(3000) if (s := units.update(rng.gauss(90.0, 30.0) * 1000))]
    assert [s.phase for s in hits if s.phase == "raised"] == ["raised"] and hits[0].kind == "skew"


def test_a_seasonal_feature_at_another_hour_than_a_partial_day_of_training_is_not_skew() -> None:
    """A model retrained on a third of a day: hour_cos at another hour has another median and a narrow
    window, but a change of units would scale median and spread alike; this scales neither alike."""
    rng = np.random.default_rng(23)
    hours = rng.integers(8, 17, 6000)  # the training window saw local hours 8 to 16 only
    train = np.cos(2 * np.pi * hours / 24)
    profile = numeric_profile("hour_cos", train)
    for live_hours in ([17, 18, 18, 18, 19], [18], [5, 6, 6, 6, 7], [0, 1, 23]):
        det = skew("hour_cos", profile)
        live = np.cos(2 * np.pi * rng.choice(live_hours, 1000) / 24)
        signals = [det.update(float(v)) for v in live]
        assert [s for s in signals if s is not None] == [], f"false skew at local hours {live_hours}"
    # ...while the same feature reported x1000 (or /1000) is still a change of units.
    for factor in (1000.0, 0.001):
        det = skew("hour_cos", profile)
        signals = [det.update(float(v) * factor) for v in np.cos(2 * np.pi * rng.integers(8, 17, 400) / 24)]
        raised = [s for s in signals if s is not None]
        assert raised and raised[0].phase == "raised", factor


def test_a_mixture_whose_share_moves_is_not_a_change_of_units() -> None:
    """Near and far jobs (11 % far): a window where the far ones pass a quarter by chance widens the IQR
    twentyfold and leaves the median with the near ones. A change of units moves both by one factor."""
    rng = np.random.default_rng(31)

    def distances(n: int, far_share: float) -> np.ndarray:
        near = rng.rayleigh(190.0, n)
        far = np.abs(rng.normal(4000.0, 1500.0, n))
        return np.where(rng.random(n) < far_share, far, near)

    profile = numeric_profile("distance_km", distances(20_000, 0.15))
    for share in (0.0, 0.2, 0.25, 0.3, 0.35, 0.4):
        det = skew("distance_km", profile)
        assert run(det, distances(2000, share).tolist()) == [], f"false skew at a far share of {share}"
    for factor in (1000.0, 12.0, 0.001):
        det = skew("distance_km", profile)
        hits = raised(run(det, (distances(1000, 0.15) * factor).tolist()))
        assert len(hits) == 1 and hits[0][0] < 200, factor
        assert float(hits[0][1].evidence["scale_factor"]) == pytest.approx(factor, rel=0.5)


def test_the_end_of_a_unit_change_read_out_of_step_is_one_recovery() -> None:
    """Three partitions read in chunks: after the fault ends, chunks of old (x1000) and new values alternate
    for a while. The skew is over once, when the values stayed clean, not at each flip back."""
    rng = np.random.default_rng(41)
    profile = numeric_profile("salary_k", 60 + 15 * rng.standard_normal(5000))
    det = skew("salary_k", profile)
    scaled = (1000 * (60 + 15 * rng.standard_normal(2000))).tolist()
    mixed: list[float] = []
    for i in range(8):  # 100-value chunks, alternately still scaled and already back
        chunk = 60 + 15 * rng.standard_normal(100)
        mixed += (chunk * (1000 if i % 2 == 0 else 1)).tolist()
    clean = (60 + 15 * rng.standard_normal(3000)).tolist()
    phases = [s.phase for _, s in run(det, scaled + mixed + clean) if s.phase != "persisting"]
    assert phases == ["raised", "recovered"], phases

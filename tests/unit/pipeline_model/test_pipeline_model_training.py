"""Training, evaluation, gating and the reference profile on small synthetic data."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from services.common.codec import AvroCodec, codec_for
from services.common.model.bundle import LabelledRow, ModelBundle, fit_spec
from services.common.settings import CommonSettings
from services.trainer import handlers
from services.trainer.fitting import build_profile, evaluate, train
from services.trainer.synthetic import make_rows


@pytest.fixture(scope="module")
def rows() -> list[LabelledRow]:
    return make_rows(3000, seed=1)


def _fit(rows: list[LabelledRow], rounds: int = 60) -> ModelBundle:
    spec = fit_spec(rows)
    return ModelBundle(train(rows, spec, num_boost_round=rounds), spec)


def test_spec_orders_columns_and_encodes_missing_and_unknown_as_nan(rows: list[LabelledRow]) -> None:
    spec = fit_spec(rows)
    assert spec.numeric == tuple(sorted(rows[0].numeric)) and len(spec.numeric) == 10
    assert spec.categorical == ("device", "industry", "region", "seniority")
    assert set(spec.vocabularies["region"]) == {"na", "latam", "eu", "mea", "apac"}
    x = spec.encode(
        [{"skill_match": 0.5, "dwell_s": None}, {}],
        [{"region": "mars", "seniority": "lead"}, {"region": "na"}],
    )
    col = {name: i for i, name in enumerate(spec.names)}
    assert x.shape == (2, 14)
    assert x[0, col["skill_match"]] == 0.5 and math.isnan(x[0, col["dwell_s"]]) and math.isnan(x[0, col["salary_k"]])
    assert math.isnan(x[0, col["region"]])  # unknown category
    assert x[0, col["seniority"]] == spec.vocabularies["seniority"].index("lead")
    assert x[1, col["region"]] == spec.vocabularies["region"].index("na")
    declared = fit_spec(rows, numeric=["skill_match"], categorical=["region"])
    assert declared.names == ["skill_match", "region"]


def test_rare_categories_stay_out_of_the_vocabulary() -> None:
    base = make_rows(10, seed=2)
    rows = [*base, LabelledRow("x", base[0].ts, {}, {"region": "once"}, True)]
    assert "once" not in fit_spec(rows, min_count=2).vocabularies["region"]
    assert "once" in fit_spec(rows, min_count=1).vocabularies["region"]


def test_trained_model_learns_the_signal(rows: list[LabelledRow]) -> None:
    train_rows, holdout = handlers.split_holdout(rows, 0.25)
    bundle = _fit(train_rows)
    metrics = evaluate([r.label for r in holdout], bundle.predict_rows(holdout))
    assert metrics["auc"] > 0.75
    assert metrics["logloss"] < 0.6
    assert metrics["rows"] == len(holdout)


def test_training_needs_both_classes(rows: list[LabelledRow]) -> None:
    only_negative = [LabelledRow(r.interaction_id, r.ts, r.numeric, r.categorical, False) for r in rows[:200]]
    with pytest.raises(ValueError, match="both classes"):
        train(only_negative, fit_spec(only_negative))


def test_gate_first_model_needs_the_floor() -> None:
    assert handlers.gate({"auc": 0.8, "logloss": 0.5}, None, 0.005, 0.005, 0.55).passed
    low = handlers.gate({"auc": 0.52, "logloss": 0.69}, None, 0.005, 0.005, 0.55)
    assert not low.passed and "floor" in low.reason
    assert not handlers.gate({"auc": math.nan, "logloss": 0.5}, None, 0.005, 0.005, 0.5).passed


def test_gate_compares_with_live_within_tolerance() -> None:
    live = {"auc": 0.80, "logloss": 0.50}
    assert handlers.gate({"auc": 0.797, "logloss": 0.503}, live, 0.005, 0.005, 0.5).passed
    worse_auc = handlers.gate({"auc": 0.79, "logloss": 0.49}, live, 0.005, 0.005, 0.5)
    assert not worse_auc.passed and "AUC" in worse_auc.reason
    worse_ll = handlers.gate({"auc": 0.81, "logloss": 0.52}, live, 0.005, 0.005, 0.5)
    assert not worse_ll.passed and "log loss" in worse_ll.reason


def test_gate_prefers_a_model_of_the_current_concept() -> None:
    """After a concept drift, a model trained on fresh rows beats the stale live model, not the reverse."""
    old = make_rows(2500, seed=3, flip=True)
    new = make_rows(2500, seed=4)
    fresh_train, holdout = handlers.split_holdout(new, 0.3)
    y = [r.label for r in holdout]
    stale_m = evaluate(y, _fit(old).predict_rows(holdout))
    fresh_m = evaluate(y, _fit(fresh_train).predict_rows(holdout))
    assert handlers.gate(fresh_m, stale_m, 0.005, 0.005, 0.55).passed
    assert not handlers.gate(stale_m, fresh_m, 0.005, 0.005, 0.55).passed


def test_profile_bins_cover_the_training_data(rows: list[LabelledRow]) -> None:
    spec = fit_spec(rows)
    profile = {p["feature"]: p for p in build_profile(rows, spec, bins=10)}
    skill = profile["skill_match"]
    assert skill["kind"] == "numeric"
    assert len(skill["fractions"]) == len(skill["edges"]) + 1 == 10
    assert skill["edges"] == sorted(skill["edges"])
    assert sum(skill["fractions"]) == pytest.approx(1.0)
    assert max(skill["fractions"]) < 0.12  # quantile bins are balanced
    values = np.array([r.numeric["skill_match"] for r in rows])
    assert skill["mean"] == pytest.approx(values.mean()) and skill["std"] == pytest.approx(values.std())
    dwell = profile["dwell_s"]
    expected_nulls = sum(r.numeric["dwell_s"] is None for r in rows) / len(rows)
    assert dwell["null_rate"] == pytest.approx(expected_nulls) and 0.05 < dwell["null_rate"] < 0.15
    region = profile["region"]
    assert region["kind"] == "categorical" and set(region["categories"]) == {"na", "latam", "eu", "mea", "apac"}
    share = sum(r.categorical["region"] == "eu" for r in rows) / len(rows)
    assert region["fractions"][region["categories"].index("eu")] == pytest.approx(share)


def test_profile_folds_rare_categories_into_other() -> None:
    rows = make_rows(500, seed=5)
    profile = {p["feature"]: p for p in build_profile(rows, fit_spec(rows), max_categories=2)}
    industry = profile["industry"]
    assert len(industry["categories"]) == 3 and industry["categories"][-1] == "__other__"
    assert sum(industry["fractions"]) == pytest.approx(1.0)


def test_model_event_with_profile_fits_the_schema(rows: list[LabelledRow]) -> None:
    spec = fit_spec(rows)
    event = handlers.model_event(
        source="trainer",
        model_name="job_apply",
        version=3,
        status="live",
        artifact_uri="file:///models/job_apply/v3",
        metrics={"auc": 0.8, "logloss": math.nan},
        params={"num_leaves": 31},
        reason="test",
        previous_version=2,
        profile=build_profile(rows, spec),
        command_id="cmd-1",
    )
    codec = codec_for(CommonSettings().schemas_dir)
    decoded = codec.decode(codec.encode("ModelPublished", event), "ModelPublished")
    assert decoded["version"] == 3 and decoded["params"] == {"num_leaves": "31"}
    assert decoded["metrics"] == {"auc": 0.8}  # the undefined log loss is left out
    assert len(decoded["profile"]) == len(spec.names)
    assert decoded["command_id"] == "cmd-1"
    again = handlers.model_event(**{**_event_args(), "command_id": "cmd-1"})
    assert again["event_id"] == handlers.model_event(**{**_event_args(), "command_id": "cmd-1"})["event_id"]
    assert handlers.model_event(**_event_args())["command_id"] is None  # the first model answers no command


def test_a_model_event_written_before_command_ids_still_decodes() -> None:
    """The previous ModelPublished version lives in schemas/history: its events resolve to the current one."""
    schemas = CommonSettings().schemas_dir
    old_schema = json.loads((schemas / "history" / "ModelPublished" / "v1.avsc").read_text())
    assert "command_id" not in {f["name"] for f in old_schema["fields"]}
    old_writer = AvroCodec()
    old_writer.register(old_schema, current=True)
    old = {k: v for k, v in handlers.model_event(**_event_args()).items() if k != "command_id"}
    data = old_writer.encode("ModelPublished", old)
    codec = codec_for(schemas)
    assert codec.writer_of(data).fingerprint != codec.current("ModelPublished").fingerprint
    assert codec.decode(data, "ModelPublished") == {**old, "command_id": None, "signer": None, "signature": None}


def test_a_refusal_answers_its_command_and_replayed_answers_carry_the_id() -> None:
    refusal = handlers.refused_event(
        source="trainer",
        model_name="m",
        command_id="cmd-2",
        reason="retrain not obeyed: 12 labelled rows",
        live_version=None,
    )
    codec = codec_for(CommonSettings().schemas_dir)
    decoded = codec.decode(codec.encode("ModelPublished", refusal), "ModelPublished")
    assert (decoded["status"], decoded["version"], decoded["command_id"]) == ("refused", 0, "cmd-2")
    recorded = [{k: v for k, v in handlers.model_event(**_event_args()).items() if k != "command_id"}]
    assert [e["command_id"] for e in handlers.answers_for("cmd-3", recorded)] == ["cmd-3"]


def _event_args() -> dict[str, Any]:
    return dict(
        source="trainer",
        model_name="m",
        version=1,
        status="live",
        artifact_uri="file:///x",
        metrics={},
        params={},
        reason="",
        previous_version=None,
    )


def test_window_and_holdout_are_time_ordered() -> None:
    rows = make_rows(1000, seed=6, step=timedelta(minutes=1))
    shuffled = rows[::-1]
    recent = handlers.select_window(shuffled, timedelta(hours=5), max_rows=10_000)
    assert len(recent) == 301 and recent[0].ts == rows[-301].ts and recent[-1].ts == rows[-1].ts
    assert len(handlers.select_window(shuffled, None, max_rows=100)) == 100
    train_rows, holdout = handlers.split_holdout(recent, 0.2, min_holdout=10)
    assert len(holdout) == 61 and max(r.ts for r in train_rows) < min(r.ts for r in holdout)
    with pytest.raises(ValueError, match="too few"):
        handlers.split_holdout(rows[:40], 0.2, min_holdout=50)


def test_single_row_fast_path_matches_the_batch_predict_from_threads(rows: list[LabelledRow]) -> None:
    import threading

    bundle = _fit(rows[:1000], rounds=30)
    sample = make_rows(200, seed=8)
    expected = bundle.predict_rows(sample)
    mismatches: list[str] = []

    def work() -> None:
        for _ in range(5):
            for r, want in zip(sample, expected, strict=True):
                got = bundle.predict_one(r.numeric, r.categorical)
                if got != want:
                    mismatches.append(f"{r.interaction_id}: {got} != {want}")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert mismatches == []

"""Inference: atomic model swap under concurrent scoring, request validation, control events."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from kit.records import feature_vector
from services.common.commands import CommandError
from services.common.http import create_app
from services.common.model.bundle import ModelBundle, fit_spec
from services.inference import handlers
from services.inference.api import add_routes
from services.inference.holder import LoadedModel, ModelHolder
from services.inference.settings import InferenceSettings
from services.trainer.fitting import train
from services.trainer.synthetic import make_rows

ROW: dict[str, Any] = {
    "interaction_id": "i-1",
    "numeric": {"skill_match": 0.72, "salary_k": 95.0, "distance_km": 12.0, "dwell_s": None, "remote": 1.0},
    "categorical": {"region": "eu", "seniority": "mid", "industry": "software", "device": "web"},
}


def _model(version: int, seed: int, flip: bool = False) -> LoadedModel:
    rows = make_rows(800, seed=seed, flip=flip)
    spec = fit_spec(rows)
    return LoadedModel("job_apply", version, ModelBundle(train(rows, spec, num_boost_round=15), spec), {"auc": 0.7})


@pytest.fixture(scope="module")
def models() -> dict[int, LoadedModel]:
    return {1: _model(1, seed=21), 2: _model(2, seed=22, flip=True)}


def _expected(model: LoadedModel) -> float:
    return float(model.bundle.predict([ROW["numeric"]], [ROW["categorical"]])[0])


def test_swap_while_predicting_from_threads_never_fails_or_mixes_models(models: dict[int, LoadedModel]) -> None:
    holder = ModelHolder()
    holder.swap(models[1])
    expected = {v: _expected(m) for v, m in models.items()}
    assert abs(expected[1] - expected[2]) > 1e-3  # the two models are distinguishable
    stop = threading.Event()
    failures: list[str] = []
    seen: dict[int, int] = {1: 0, 2: 0}

    def client() -> None:
        while not stop.is_set():
            try:
                model = holder.current
                assert model is not None
                score = float(model.bundle.predict([ROW["numeric"]], [ROW["categorical"]])[0])
                if abs(score - expected[model.version]) > 1e-12:
                    failures.append(f"v{model.version} scored {score}, expected {expected[model.version]}")
                seen[model.version] += 1
            except Exception as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(300):
        old = holder.swap(models[2 if i % 2 == 0 else 1])
        assert old is not None
        time.sleep(0.001)
    stop.set()
    for t in threads:
        t.join(10)
    assert failures == []
    assert seen[1] > 0 and seen[2] > 0


@pytest.fixture
def app_parts(models: dict[int, LoadedModel]) -> tuple[TestClient, ModelHolder]:
    settings = InferenceSettings(log_to_kafka=False, max_request_rows=5, offload_rows=2)
    holder = ModelHolder()
    app = create_app(settings, {"model": lambda: holder.loaded})
    add_routes(app, settings, holder, store=None)
    return TestClient(app), holder


def test_ready_and_predict_wait_for_a_model(app_parts: tuple[TestClient, ModelHolder], models: Any) -> None:
    client, holder = app_parts
    assert client.get("/ready").status_code == 503
    r = client.post("/predict", json=ROW)
    assert r.status_code == 503 and "no version of job_apply is loaded" in r.json()["message"]
    assert client.get("/model").status_code == 503
    holder.swap(models[1])
    assert client.get("/ready").status_code == 200
    info = client.get("/model").json()
    assert info["name"] == "job_apply" and info["version"] == 1 and info["metrics"] == {"auc": 0.7}
    assert info["loaded_at"] and "skill_match" in info["features"]["numeric_features"]


def test_predict_single_and_batch(app_parts: tuple[TestClient, ModelHolder], models: Any) -> None:
    client, holder = app_parts
    holder.swap(models[2])
    single = client.post("/predict", json=ROW).json()
    assert single["score"] == pytest.approx(_expected(models[2]))
    assert single["model_version"] == 2 and single["interaction_id"] == "i-1" and single["latency_ms"] >= 0
    batch = client.post("/predict", json={"rows": [ROW, {**ROW, "numeric": {"skill_match": 0.1}}, ROW]}).json()
    assert batch["rows"] == 3 and len(batch["scores"]) == 3  # 3 > offload_rows: scored in a worker thread
    assert batch["scores"][0] == pytest.approx(single["score"]) and batch["scores"][1] != batch["scores"][0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"numeric": {"skill_match": "high"}}, "numeric.skill_match: Input should be a valid number"),
        ({"numeric": {"skill_match": True}}, "numeric.skill_match: Input should be a valid number"),
        ({"categorical": {"region": 3}}, "categorical.region: Input should be a valid string"),
        ({"member_id": "m1"}, "needs features (numeric and/or categorical) or both member_id and job_id"),
        ({**ROW, "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"rows": []}, "rows: List should have at least 1 item"),
        ({"rows": [ROW] * 6}, "rows: at most 5 rows per request, got 6"),
        (
            {"rows": [ROW, {"numeric": {"skill_match": None}, "job_id": ""}]},
            "rows.1.job_id: String should have at least 1",
        ),
        ([1, 2], 'expected a JSON object: one row, or {"rows": [...]}'),
        ({"numeric": {"skil_match": 0.3}}, "features unknown to job_apply v1: numeric.skil_match"),
    ],
)
def test_bad_requests_get_422_with_a_message(
    app_parts: tuple[TestClient, ModelHolder], models: Any, body: Any, message: str
) -> None:
    client, holder = app_parts
    holder.swap(models[1])
    r = client.post("/predict", json=body)
    assert r.status_code == 422, r.text
    assert message in r.json()["message"]
    assert r.json()["detail"]


def test_invalid_json_and_ids_only_without_store(app_parts: tuple[TestClient, ModelHolder], models: Any) -> None:
    client, holder = app_parts
    holder.swap(models[1])
    r = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "body is not valid JSON" in r.json()["message"]
    r = client.post("/predict", content=b'{"numeric": {"skill_match": NaN}}')
    assert r.status_code == 422 and "finite number" in r.json()["message"]
    r = client.post("/predict", json={"member_id": "m1", "job_id": "j1"})
    assert r.status_code == 400 and "no online store" in r.json()["message"]


def test_feature_vectors_are_scored_in_one_call_with_derived_ids(models: dict[int, LoadedModel]) -> None:
    vectors = [
        {**ROW, "event_id": f"e{i}", "interaction_id": f"i{i}", "member_id": "m", "job_id": "j"} for i in range(3)
    ]
    out = handlers.score_feature_vectors(models[1], vectors)
    assert [p["interaction_id"] for p in out] == ["i0", "i1", "i2"]
    assert {p["model_version"] for p in out} == {1} and out[0]["score"] == pytest.approx(_expected(models[1]))
    again = handlers.score_feature_vectors(models[1], vectors)
    assert [p["event_id"] for p in out] == [p["event_id"] for p in again]  # replay-safe ids


def test_control_events() -> None:
    def act(topic: str, value: dict[str, Any]) -> str | None:
        return handlers.control_action(topic, value, "job_apply", "inference", 50)

    assert act("model.events", {"ts": 100, "model_name": "job_apply"}) == "refresh"
    assert act("model.events", {"ts": 10, "model_name": "job_apply"}) is None
    assert act("model.events", {"ts": 100, "model_name": "other"}) is None
    assert act("commands", {"ts": 100, "target": "inference", "command": "reload"}) == "reload"
    assert act("commands", {"ts": 100, "target": "trainer", "command": "retrain"}) is None
    with pytest.raises(CommandError, match="unknown inference command 'retrain'"):
        act("commands", {"ts": 100, "target": "inference", "command": "retrain"})


def test_online_hashes_become_model_features(models: dict[int, LoadedModel]) -> None:
    spec = models[1].bundle.spec
    numeric, categorical = handlers.merge_online_features(
        spec,
        [{"skill_match": "0.4", "region": "na", "dwell_s": "", "updated_ms": "1"}, {"skill_match": "0.6"}],
    )
    assert numeric == {"skill_match": 0.6, "dwell_s": None}
    assert categorical == {"region": "na"}
    assert np.isfinite(models[1].bundle.predict([numeric], [categorical])).all()


def test_online_store_keys_and_fields_match_the_feature_service(models: dict[int, LoadedModel]) -> None:
    """The hashes the feature service writes, read back under inference's default prefix, give the row."""
    from services.common.model.features import online_keys
    from services.feature.handlers import online_hashes

    row = make_rows(1, seed=9)[0]
    written = online_hashes(feature_vector(row, "m7", "j3"), "features:")
    keys = list(online_keys(InferenceSettings().redis_key_prefix, "m7", "j3"))
    assert sorted(keys) == sorted(written)
    numeric, categorical = handlers.merge_online_features(models[1].bundle.spec, [written[k] for k in keys])
    assert categorical == row.categorical
    assert numeric == {k: (None if v is None else pytest.approx(v)) for k, v in row.numeric.items()}

"""Inference's request reading under arbitrary input: rows or a RequestValidationError (a 422 naming the
field), and POST /predict answers every body with a score or a 4xx, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from hypothesis import example, given
from hypothesis import strategies as st

from services.common.http import create_app
from services.common.model.bundle import ModelBundle, fit_spec
from services.common.model.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from services.inference.api import PredictRow, _parse, add_routes
from services.inference.handlers import merge_online_features, unknown_features
from services.inference.holder import LoadedModel, ModelHolder
from services.inference.settings import InferenceSettings
from services.trainer.fitting import train
from services.trainer.synthetic import make_rows
from tests.unit.fuzz.fuzz_strategies import FUZZ, any_text, bodies, json_objects, json_values, nested

ROWS = 3  # max_request_rows: small, so that the limit is reached
ROWS_OFF_LOOP = 2  # offload_rows: batches above it are scored on a worker thread
ROWS_SPEC = fit_spec(make_rows(200, seed=3))

# Rows with the model's own feature names most of the time, so that scoring is reached.
numeric = st.dictionaries(
    st.one_of(st.sampled_from(NUMERIC_FEATURES), st.text(max_size=8)),
    st.one_of(st.none(), st.floats(), st.integers(), json_values),
    max_size=6,
)
categorical = st.dictionaries(
    st.one_of(st.sampled_from(CATEGORICAL_FEATURES), st.text(max_size=8)),
    st.one_of(any_text, json_values),
    max_size=5,
)
rows = st.fixed_dictionaries(
    {},
    optional={
        "interaction_id": json_values,
        "member_id": st.one_of(st.text(max_size=8), json_values),
        "job_id": st.one_of(st.text(max_size=8), json_values),
        "numeric": st.one_of(numeric, json_values),
        "categorical": st.one_of(categorical, json_values),
        "features": json_values,
    },
)
payloads = st.one_of(
    json_values, json_objects, rows, st.fixed_dictionaries({"rows": st.one_of(st.lists(rows, max_size=5), json_values)})
)


@FUZZ
@given(payload=payloads)
@example(payload={"numeric": {"salary_k": float("nan")}})
@example(payload={"numeric": {"salary_k": 10**400}})
@example(payload={"rows": [{"numeric": {}}] * (ROWS + 1)})
def test_a_payload_gives_rows_or_a_validation_error_naming_the_field(payload: Any) -> None:
    try:
        parsed, is_batch = _parse(payload, ROWS)
    except RequestValidationError as exc:
        assert exc.errors() and all(e["loc"][0] == "body" and e["msg"] for e in exc.errors())
        return
    assert 1 <= len(parsed) <= ROWS and all(isinstance(r, PredictRow) for r in parsed)
    assert is_batch == (isinstance(payload, dict) and "rows" in payload)


@FUZZ
@given(
    hashes=st.lists(
        st.dictionaries(
            st.one_of(st.sampled_from([*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]), st.text(max_size=8)),
            st.one_of(st.sampled_from(["", "nan", "inf", "-inf", "1e400", "0x1", "1_0", " 2 "]), any_text),
            max_size=8,
        ),
        max_size=3,
    )
)
def test_online_store_hashes_of_any_text_merge_to_finite_features(hashes: list[dict[str, str]]) -> None:
    numeric_values, categorical_values = merge_online_features(ROWS_SPEC, hashes)
    assert set(numeric_values) <= set(ROWS_SPEC.numeric) and set(categorical_values) <= set(ROWS_SPEC.categorical)
    assert all(v is None or abs(v) < float("inf") for v in numeric_values.values())
    assert unknown_features(ROWS_SPEC, numeric_values, categorical_values) == []


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """POST /predict as the service wires it, with a model loaded and no online store."""
    rows = make_rows(400, seed=5)
    spec = fit_spec(rows)
    holder = ModelHolder()
    holder.swap(LoadedModel("job_apply", 1, ModelBundle(train(rows, spec, num_boost_round=5), spec), {"auc": 0.5}))
    settings = InferenceSettings(log_to_kafka=False, max_request_rows=ROWS, offload_rows=ROWS_OFF_LOOP)
    app = create_app(settings, {"model": lambda: holder.loaded})
    add_routes(app, settings, holder, store=None)
    with TestClient(app) as test_client:
        yield test_client


http_bodies = st.one_of(bodies, payloads.map(lambda p: json.dumps(p, allow_nan=True).encode("utf-8", "surrogatepass")))


@FUZZ
@given(body=http_bodies)
@example(body=b'{"numeric": {"salary_k": NaN}}')
@example(body=b'{"member_id": "m", "job_id": "j"}')
@example(body=nested(100_000))  # legal JSON, deeper than the parser's recursion limit
def test_predict_answers_any_body_with_a_score_or_a_4xx(client: TestClient, body: bytes) -> None:
    reply = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert reply.status_code < 500, reply.text
    if reply.status_code == 200:
        answer = reply.json()
        assert "score" in answer or len(answer["scores"]) == answer["rows"]
    else:
        assert reply.json()["message"]

"""HTTP face of inference: ``POST /predict`` (one row or a batch) and ``GET /model``.

Single rows are scored on the event loop (a LightGBM call on one row takes tens of microseconds,
less than a thread hop); bigger batches go to a worker thread so they do not stall other requests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool

from services.common.connections import async_redis_client
from services.common.model.features import online_keys
from services.common.settings import CommonSettings
from services.inference import handlers, metrics
from services.inference.holder import LoadedModel, ModelHolder
from services.inference.settings import InferenceSettings

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Text = Annotated[str, Field(strict=True, max_length=1000)]
Id = Annotated[str, Field(strict=True, min_length=1, max_length=200)]


class PredictRow(BaseModel):
    """One interaction: its features, or only member_id and job_id to read them from the online store."""

    model_config = ConfigDict(extra="forbid")

    interaction_id: Id | None = None
    member_id: Id | None = None
    job_id: Id | None = None
    numeric: dict[str, Number | None] | None = None
    categorical: dict[str, Text] | None = None

    @model_validator(mode="after")
    def _features_or_ids(self) -> PredictRow:
        if self.numeric is None and self.categorical is None and not (self.member_id and self.job_id):
            raise ValueError(
                "a row needs features (numeric and/or categorical) or both member_id and job_id "
                "to read its features from the online store"
            )
        return self

    @property
    def has_features(self) -> bool:
        return self.numeric is not None or self.categorical is not None


class PredictBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[PredictRow] = Field(min_length=1)


class OnlineStore:
    """Reads the feature service's Redis hashes to complete rows that bring only ids."""

    def __init__(self, settings: CommonSettings, key_prefix: str) -> None:
        self.settings = settings
        self.key_prefix = key_prefix
        self._client: Any = None

    async def fetch(self, member_id: str, job_id: str) -> list[dict[str, str]]:
        if self._client is None:
            self._client = async_redis_client(self.settings, decode_responses=True, socket_timeout=2)
        pipe = self._client.pipeline(transaction=False)
        for key in online_keys(self.key_prefix, member_id, job_id):
            pipe.hgetall(key)
        return [h for h in await pipe.execute() if h]


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _invalid(errors: list[Any]) -> RequestValidationError:
    return RequestValidationError(errors)


def _parse(payload: Any, max_rows: int) -> tuple[list[PredictRow], bool]:
    """The rows of a request and whether it was a batch; raises RequestValidationError."""
    try:
        if isinstance(payload, dict) and "rows" in payload:
            batch = PredictBatch.model_validate(payload)
            if len(batch.rows) > max_rows:
                raise _invalid(
                    [
                        {
                            "type": "too_long",
                            "loc": ("body", "rows"),
                            "msg": f"at most {max_rows} rows per request, got {len(batch.rows)}",
                            "input": None,
                        }
                    ]
                )
            return batch.rows, True
        if not isinstance(payload, dict):
            raise _invalid(
                [
                    {
                        "type": "model_type",
                        "loc": ("body",),
                        "input": None,
                        "msg": 'expected a JSON object: one row, or {"rows": [...]}',
                    }
                ]
            )
        return [PredictRow.model_validate(payload)], False
    except ValidationError as exc:
        raise _invalid([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None


def add_routes(app: FastAPI, settings: InferenceSettings, holder: ModelHolder, store: OnlineStore | None) -> None:
    @app.exception_handler(HttpError)
    async def on_error(_request: Request, exc: HttpError) -> JSONResponse:
        metrics.REQUEST_ERRORS.labels(str(exc.status)).inc()
        return JSONResponse({"message": exc.message}, status_code=exc.status)

    @app.get("/model")
    async def model_info() -> JSONResponse:
        model = holder.current
        if model is None:
            raise HttpError(503, f"no version of {settings.model_name} is loaded yet")
        return JSONResponse(jsonable_encoder(model.describe()))

    http_rows = metrics.PREDICTIONS.labels("http")
    http_seconds = metrics.PREDICT_SECONDS.labels("http")

    async def predict(request: Request) -> JSONResponse:
        body = await request.body()
        started = time.perf_counter()
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:  # nested too deep is invalid too
            raise _invalid(
                [{"type": "json_invalid", "loc": ("body",), "msg": f"body is not valid JSON: {exc}", "input": None}]
            ) from None
        rows, is_batch = _parse(payload, settings.max_request_rows)
        model = holder.current  # one read: the whole request uses this model, even if a swap happens now
        if model is None:
            raise HttpError(503, f"no version of {settings.model_name} is loaded yet; retry later")
        numeric, categorical = await _features(rows, model, store)
        if len(rows) == 1:
            scores: Sequence[float] | np.ndarray = [model.bundle.predict_one(numeric[0], categorical[0])]
        elif len(rows) > settings.offload_rows:
            scores = await run_in_threadpool(model.bundle.predict, numeric, categorical)
        else:
            scores = model.bundle.predict(numeric, categorical)
        latency_ms = (time.perf_counter() - started) * 1000.0
        http_rows.inc(len(rows))
        http_seconds.observe(latency_ms / 1000.0)
        common = {"model_name": model.name, "model_version": model.version, "latency_ms": round(latency_ms, 3)}
        if is_batch:
            return JSONResponse({"scores": [float(s) for s in scores], "rows": len(rows), **common})
        return JSONResponse({"score": float(scores[0]), "interaction_id": rows[0].interaction_id, **common})

    # A plain Starlette route: the body is parsed and validated by hand (pydantic, same 422s), which
    # skips FastAPI's per-request dependency solving on the hot path.
    app.add_route("/predict", predict, methods=["POST"])
    _declare_predict(app, settings.max_request_rows)


def _predict_openapi(max_rows: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI operation of POST /predict and the component schemas it refers to.

    The body schemas are the pydantic models ``_parse`` validates with, plus what it checks by hand: a row
    brings features or both ids, and a batch holds at most ``max_rows`` rows.
    """
    ref = "#/components/schemas/{model}"
    row = PredictRow.model_json_schema(ref_template=ref)
    row["anyOf"] = [
        {"required": ["numeric"], "properties": {"numeric": {"type": "object"}}},
        {"required": ["categorical"], "properties": {"categorical": {"type": "object"}}},
        {
            "required": ["member_id", "job_id"],
            "properties": {"member_id": {"type": "string"}, "job_id": {"type": "string"}},
        },
    ]
    batch = PredictBatch.model_json_schema(ref_template=ref)
    batch.pop("$defs", None)
    batch["properties"]["rows"]["maxItems"] = max_rows
    served = {
        "model_name": {"type": "string"},
        "model_version": {"type": "integer"},
        "latency_ms": {"type": "number"},
    }
    message = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
    components = {
        "PredictRow": row,
        "PredictBatch": batch,
        "PredictScore": {
            "type": "object",
            "properties": {
                "score": {"type": "number"},
                "interaction_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                **served,
            },
            "required": ["score", "interaction_id", *served],
        },
        "PredictScores": {
            "type": "object",
            "properties": {
                "scores": {"type": "array", "items": {"type": "number"}},
                "rows": {"type": "integer"},
                **served,
            },
            "required": ["scores", "rows", *served],
        },
        "PredictMessage": message,
        "PredictInvalid": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "detail": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["message", "detail"],
        },
    }

    def answer(description: str, schema: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": ref.format(model=schema)}}},
        }

    operation = {
        "summary": "Predict",
        "description": "Score one row, or a batch of rows; a row brings its features, or member_id and job_id "
        "to read them from the online store.",
        "operationId": "predict_predict_post",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [{"$ref": ref.format(model="PredictRow")}, {"$ref": ref.format(model="PredictBatch")}]
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "The score of the row, or the scores of the batch in its order",
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": ref.format(model="PredictScore")},
                                {"$ref": ref.format(model="PredictScores")},
                            ]
                        }
                    }
                },
            },
            "400": answer("Only ids were sent and this server has no online store", "PredictMessage"),
            "404": answer("No online features for the member and job", "PredictMessage"),
            "413": answer("The body is over the size limit", "PredictMessage"),
            "422": answer("The body is not JSON, not a row or a batch, or names unknown features", "PredictInvalid"),
            "503": answer("No model is loaded yet, or the online store is unavailable", "PredictMessage"),
        },
    }
    return operation, components


def _declare_predict(app: FastAPI, max_rows: int) -> None:
    """Put POST /predict in the app's OpenAPI document, which lists only FastAPI's own routes."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            operation, components = _predict_openapi(max_rows)
            document.setdefault("paths", {})["/predict"] = {"post": operation}
            document.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _features(
    rows: list[PredictRow], model: LoadedModel, store: OnlineStore | None
) -> tuple[list[Mapping[str, float | None]], list[Mapping[str, str]]]:
    spec = model.bundle.spec
    numeric: list[Mapping[str, float | None]] = []
    categorical: list[Mapping[str, str]] = []
    errors = []
    for i, row in enumerate(rows):
        if row.has_features:
            num, cat = row.numeric or {}, row.categorical or {}
            unknown = handlers.unknown_features(spec, num, cat)
            if unknown:
                errors.append(
                    {
                        "type": "unknown_feature",
                        "loc": ("body", i, "features"),
                        "input": unknown,
                        "msg": f"features unknown to {model.name} v{model.version}: {', '.join(unknown)}; "
                        f"known numeric: {', '.join(spec.numeric)}; known categorical: {', '.join(spec.categorical)}",
                    }
                )
                continue
        else:
            if store is None:
                raise HttpError(400, "this server has no online store: send the row's features")
            assert row.member_id is not None and row.job_id is not None
            try:
                hashes = await store.fetch(row.member_id, row.job_id)
            except Exception as exc:
                raise HttpError(503, f"online feature store unavailable: {type(exc).__name__}: {exc}") from exc
            if not hashes:
                raise HttpError(404, f"no online features for member_id={row.member_id} job_id={row.job_id}")
            num, cat = handlers.merge_online_features(spec, hashes)
        numeric.append(num)
        categorical.append(cat)
    if errors:
        if len(rows) == 1:
            errors = [{**e, "loc": ("body", "features")} for e in errors]
        raise _invalid(errors)
    return numeric, categorical

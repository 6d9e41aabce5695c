"""``POST /events``: a JSON batch of interactions, checked against the contract, valid ones sent on.

The envelope is validated by pydantic (422 with a message when malformed); each event is then
checked against the data contract, so one bad event is answered with its reasons without
rejecting the whole batch. Accepted means acknowledged by Kafka.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from services.common.bus import ContractError, DeliveryError, EventProducer
from services.common.codec import CodecError
from services.ingest import handlers, metrics
from services.ingest.contract import Contract
from services.ingest.settings import IngestSettings


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(min_length=1)


def parse_batch(body: bytes, max_events: int) -> list[dict[str, Any]]:
    """The events of a request body: ``{"events": [...]}`` or a bare JSON list; raises RequestValidationError."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # nested too deep is invalid too
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"body is not valid JSON: {exc}"}]
        ) from None
    if isinstance(payload, list):
        payload = {"events": payload}
    if not isinstance(payload, dict):
        raise RequestValidationError(
            [{"type": "model_type", "loc": ("body",), "msg": 'expected {"events": [...]} or a JSON list of events'}]
        )
    try:
        batch = EventBatch.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_input=False)]
        ) from None
    if len(batch.events) > max_events:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "events"),
                    "msg": f"at most {max_events} events per request, got {len(batch.events)}",
                }
            ]
        )
    return batch.events


def add_routes(
    app: FastAPI, settings: IngestSettings, contract: Contract, producer: EventProducer, paused: Callable[[], bool]
) -> None:
    @app.post("/events")
    async def post_events(request: Request) -> JSONResponse:
        if paused():
            return JSONResponse(
                {"message": "ingest is paused (quarantine); retry after it is resumed"},
                status_code=503,
                headers={"Retry-After": "30"},
            )
        body = await request.body()
        # Parsing a large body takes a while: off the event loop, so /health keeps answering meanwhile.
        events = await run_in_threadpool(parse_batch, body, settings.max_http_events)
        return await run_in_threadpool(_accept, events)

    def _accept(events: list[dict[str, Any]]) -> JSONResponse:
        accepted = 0
        errors: list[dict[str, Any]] = []
        for i, raw in enumerate(events):
            event = handlers.with_header(raw, f"{settings.service_name}-http")
            try:
                out = handlers.validate(contract, handlers.normalise_http(event), path="http")
                producer.produce(out.topic, out.value, key=out.key)
                accepted += 1
            except ContractError as exc:
                errors.append({"index": i, "event_id": event.get("event_id"), "reason": str(exc)})
            except CodecError as exc:
                metrics.REJECTED.labels("event", "schema").inc()
                errors.append({"index": i, "event_id": event.get("event_id"), "reason": f"schema: {exc}"})
        try:
            producer.flush(settings.http_delivery_timeout_s)
        except DeliveryError as exc:
            return JSONResponse({"message": f"Kafka did not acknowledge the events: {exc}"}, status_code=503)
        status = 200 if accepted else 422
        body: dict[str, Any] = {"accepted": accepted, "rejected": len(errors), "errors": errors}
        if not accepted:
            body["message"] = "; ".join(f"events[{e['index']}]: {e['reason']}" for e in errors[:20])
        return JSONResponse(body, status_code=status)

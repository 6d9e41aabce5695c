"""Every HTTP operation of the services that serve routes of their own (ingest, inference, the healer), fuzzed
by schemathesis from the service's own OpenAPI document: valid and invalid requests alike are answered with
a status the document declares, and never with a 5xx.

Each service is built by its ``build()`` on real Kafka, PostgreSQL and Redis, its loops run as ``serve`` runs
them, and the requests reach its app in-process once /ready answers 200.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, as_reported_failure
from schemathesis.core.result import Ok
from schemathesis.pytest.lazy import get_all_tests
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import status_code_conformance

from kit.postgres import isolated_schema
from kit.records import interaction
from kit.wait import IN_PROCESS_LOG, wait_until
from services.common.connections import postgres_conninfo
from services.common.model import artifacts
from services.common.model.bundle import ModelBundle, fit_spec
from services.common.model.registry import ModelVersion
from services.common.service import Service
from services.healer.service import build as build_healer
from services.inference.service import build as build_inference
from services.inference.settings import InferenceSettings
from services.ingest.contract import Contract, FieldRule
from services.ingest.service import build as build_ingest
from services.ingest.settings import IngestSettings
from services.trainer import store
from services.trainer.fitting import train
from services.trainer.synthetic import make_rows
from tests.integration.healer.healer_itest_support import healer_redis_cleanup, healer_settings

__all__ = ["healer_redis_cleanup"]  # a fixture: the import is its registration

pytestmark = pytest.mark.infra

SERVICES = ("ingest", "inference", "healer")
MAX_EXAMPLES = 100  # per operation, in the fuzzing phase (the coverage phase adds its own deterministic cases)
READY_TIMEOUT_S = 90.0

# Answers a route gives that its OpenAPI document does not list: the route reads the raw request or raises
# HTTPException, which FastAPI cannot see. Each is a refusal the README documents; any other status that the
# document does not declare fails the test.
UNDECLARED: dict[tuple[str, str], frozenset[int]] = {
    ("POST", "/events"): frozenset({422}),  # a malformed body, or every event of the batch breaks the contract
}
HEADER_FIELDS = frozenset({"event_id", "ts", "source"})  # ingest fills them in when a client leaves them out

answered: Counter[tuple[str, int]] = Counter()  # (operation, status) -> requests


@contextmanager
def running(service: Service, shutdown_s: float) -> Iterator[FastAPI]:
    """The service's loops on threads, as ``services.common.service.serve`` runs them; its app once /ready is 200."""
    assert service.app is not None
    stop = threading.Event()
    for step in service.before:
        step()
    loops = {**service.background, "main": service.main}
    threads = [threading.Thread(target=loop, args=(stop,), name=name, daemon=True) for name, loop in loops.items()]
    for thread in threads:
        thread.start()
    try:
        client = TestClient(service.app)
        wait_until(lambda: client.get("/ready").status_code == 200, READY_TIMEOUT_S, "/ready is 200", IN_PROCESS_LOG)
        yield service.app
    finally:
        stop.set()
        for thread in threads:
            thread.join(shutdown_s)
        for step in service.after:
            step()


def _event_field(rule: FieldRule, now_ms: int) -> dict[str, Any]:
    """One field of the data contract as JSON Schema."""
    schema: dict[str, Any] = {"type": [rule.type, "null"] if rule.nullable else rule.type}
    bounds = {"minimum": rule.min, "maximum": rule.max, "minLength": rule.min_length, "maxLength": rule.max_length}
    if rule.max_ahead_s is not None:
        bounds["maximum"] = now_ms + int(rule.max_ahead_s * 1000) - 60_000  # a minute of margin for the run
    schema.update({k: v for k, v in bounds.items() if v is not None})
    if rule.allowed is not None:
        schema["enum"] = sorted(rule.allowed)
    return schema


def events_body(contract: Contract, max_events: int) -> dict[str, Any]:
    """The body POST /events reads: ``{"events": [...]}`` or a bare list, each event as the data contract says.

    The route reads the raw request, so FastAPI's document has no body for it; without one the fuzzer could
    only send empty requests.
    """
    now_ms = int(time.time() * 1000)
    event = {
        "type": "object",
        "properties": {rule.name: _event_field(rule, now_ms) for rule in contract.rules},
        "required": [r.name for r in contract.rules if r.required and r.name not in HEADER_FIELDS],
        "additionalProperties": contract.allow_unknown,
    }
    events = {"type": "array", "items": event, "minItems": 1, "maxItems": max_events}
    batch = {
        "type": "object",
        "properties": {"events": events},
        "required": ["events"],
        "additionalProperties": False,
    }
    return {"required": True, "content": {"application/json": {"schema": {"oneOf": [batch, events]}}}}


@contextmanager
def ingest_schema(make_settings: Callable[..., Any]) -> Iterator[BaseSchema]:
    settings: IngestSettings = make_settings(IngestSettings, http_port=0)
    with running(build_ingest(settings), settings.shutdown_timeout_s) as app:
        document = copy.deepcopy(TestClient(app).get("/openapi.json").json())
        document["paths"]["/events"]["post"]["requestBody"] = events_body(
            Contract.load(settings.contract_path), settings.max_http_events
        )
        schema = schemathesis.openapi.from_dict(document)
        schema.app = app
        yield schema


def live_model(settings: InferenceSettings, artifact_dir: Path) -> None:
    """A trained model, registered live in the registry the service reads."""
    rows = make_rows(600, seed=11)
    spec = fit_spec(rows)
    bundle = ModelBundle(train(rows, spec, num_boost_round=10), spec)
    uri = artifacts.save_bundle(artifact_dir, settings.model_name, 1, bundle)
    with psycopg.connect(postgres_conninfo(settings)) as conn:
        store.insert_version(conn, ModelVersion(settings.model_name, 1, "live", uri, metrics={"auc": 0.7}))
        store.set_live(conn, settings.model_name, 1, "the model the requests are scored with")


@contextmanager
def inference_schema(
    make_settings: Callable[..., Any], topic_prefix: str, pg_dsn: str, tmp_path: Path
) -> Iterator[BaseSchema]:
    with isolated_schema(pg_dsn, "fz") as dsn:
        settings: InferenceSettings = make_settings(
            InferenceSettings, http_port=0, postgres_dsn=dsn, redis_key_prefix=f"{topic_prefix}features:"
        )
        live_model(settings, tmp_path / "models")
        with running(build_inference(settings), settings.shutdown_timeout_s) as app:
            yield schemathesis.openapi.from_asgi("/openapi.json", app)


@contextmanager
def healer_schema(topic_prefix: str, pg_dsn: str) -> Iterator[BaseSchema]:
    with isolated_schema(pg_dsn, "fz") as dsn:
        settings = healer_settings(topic_prefix, postgres_dsn=dsn, watch_enabled=False)
        with running(build_healer(settings), settings.shutdown_timeout_s) as app:
            yield schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(params=SERVICES)
def api(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Any],
    topic_prefix: str,
    pg_dsn: str,
    tmp_path: Path,
) -> Iterator[BaseSchema]:
    """A running service's OpenAPI schema, bound to its app."""
    schemas = {
        "ingest": lambda: ingest_schema(make_settings),
        "inference": lambda: inference_schema(make_settings, topic_prefix, pg_dsn, tmp_path),
        "healer": lambda: healer_schema(topic_prefix, pg_dsn),
    }
    with schemas[request.param]() as schema:
        schema.config.generation.update(max_examples=MAX_EXAMPLES, database="none")
        schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
        yield schema


def check(case: Case[Any]) -> None:
    """One request: never a 5xx, and a status the document declares (or a known undeclared refusal)."""
    response = case.call()
    answered[(case.operation.label, response.status_code)] += 1
    if response.status_code in UNDECLARED.get((case.method.upper(), case.path), frozenset()):
        case.validate_response(response, checks=[not_a_server_error])
    else:
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance])


def test_every_answer_is_declared_and_none_is_a_5xx(api: BaseSchema, capsys: pytest.CaptureFixture[str]) -> None:
    """Each operation's examples, coverage and fuzzing cases, as schemathesis' pytest plugin would run them;
    every operation runs even when another fails, and the failures are reported together.

    The plugin's own fixture integration (``schemathesis.pytest.from_fixture``) renames the running test through
    ``Node._nodeid``, which pytest 9 no longer has; the per-operation tests it would run are run here instead.
    """
    answered.clear()
    failures: list[str] = []
    operations: list[str] = []
    for result in get_all_tests(schema=api, test_func=check, settings=None, given_kwargs=None):
        assert isinstance(result, Ok), f"invalid OpenAPI document: {result.err()}"
        operation, run = result.ok()
        operations.append(operation.label)
        try:
            run()
        except FailureGroup as exc:
            failures.append(f"{operation.label}:\n{as_reported_failure(exc)}")
        except Exception as exc:
            failures.append(f"{operation.label}: {type(exc).__name__}: {exc}")
    with capsys.disabled():
        print(f"\n{api.raw_schema['info']['title']}: {len(operations)} operations, {answered.total()} requests")
        for label in operations:
            statuses = sorted((status, n) for (op, status), n in answered.items() if op == label)
            print(f"  {label}: {sum(n for _, n in statuses)} ({', '.join(f'{s}: {n}' for s, n in statuses)})")
    assert not failures, "\n\n".join(failures)
    never = [label for label in operations if not any(op == label for op, _ in answered)]
    assert not never, f"operations never called: {never}"


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# Bodies no schema-driven generator makes: legal JSON nested deeper than the parser's recursion limit, and an
# event time no double can hold (a JSON integer may have any number of digits).
HOSTILE = [
    ("ingest", "/events", _deep(100_000)),
    ("ingest", "/events", json.dumps([{**interaction(1), "ts": 10**400}]).encode()),
    ("inference", "/predict", _deep(100_000)),
]


@pytest.mark.parametrize(
    ("api", "path", "body"), HOSTILE, indirect=["api"], ids=["events-deep", "events-huge-ts", "predict-deep"]
)
def test_bodies_beyond_the_generator_get_a_4xx(api: BaseSchema, path: str, body: bytes) -> None:
    """What the generator cannot reach is still a clear 4xx with a message, never a 500."""
    client = TestClient(api.app, raise_server_exceptions=False)
    reply = client.post(path, content=body, headers={"content-type": "application/json"})
    assert 400 <= reply.status_code < 500, f"{reply.status_code}: {reply.text}"
    assert reply.json()["message"]

"""Ingest against real Kafka: contract breaks are dead-lettered with field and reason; HTTP answers 422 / 503."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from kit.kafka import read_topic
from kit.records import interaction
from kit.wait import IN_PROCESS_LOG, wait_until
from services.common.bus import EventProducer
from services.common.commands import sign_command
from services.common.events import header
from services.common.http import create_app
from services.ingest.api import add_routes
from services.ingest.contract import Contract
from services.ingest.service import processors
from services.ingest.settings import IngestSettings

Ingest = tuple[IngestSettings, Any, TestClient]  # settings, the running processor, an HTTP client


@pytest.fixture
def ingest(make_settings: Callable[..., Any]) -> Iterator[Ingest]:
    settings: IngestSettings = make_settings(IngestSettings, group_id="ingest-test", poll_timeout_s=0.1)
    processor, commands = processors(settings)
    app = create_app(settings, {"kafka": lambda: processor.ready})
    add_routes(app, settings, Contract.load(), EventProducer(settings), paused=lambda: processor.paused)
    stop = threading.Event()
    threads = [threading.Thread(target=p.run, args=(stop,), daemon=True) for p in (processor, commands)]
    for t in threads:
        t.start()
    assert processor.wait_ready(30) and commands.wait_ready(30)
    with TestClient(app) as client:
        yield settings, processor, client
    stop.set()
    for t in threads:
        t.join(15)


def test_contract_breaks_go_to_deadletter_with_field_and_reason(ingest: Ingest) -> None:
    settings, _, _ = ingest
    producer = EventProducer(settings)
    good = interaction(1)
    bad_hour = {**interaction(2), "hour_of_day": 27}
    bad_device = {**interaction(3), "device": "fax"}
    for event in (good, bad_hour, bad_device):
        producer.produce("interactions.raw", event, key=event["member_id"])
    producer.produce_raw("interactions.raw", b'{"member_id": "m1"}', "m1")
    producer.flush()
    dead = read_topic(settings, "deadletter", until=3, timeout_s=30)
    by_kind = sorted((d["error_type"], d["error"]) for d in dead)
    assert ("contract", "hour_of_day: 27 is above the maximum 23") in by_kind
    assert ("contract", "device: 'fax' is not one of android, ios, web") in by_kind
    assert any(kind == "decode" and "not Avro" in err for kind, err in by_kind)
    assert all(d["topic"] == "interactions.raw" and d["consumer_group"] == "ingest-test" for d in dead)
    valid = read_topic(settings, "interactions.valid", until=1, timeout_s=30)
    assert [v["event_id"] for v in valid] == [good["event_id"]]


def test_http_malformed_bodies_get_422_with_a_message(ingest: Ingest) -> None:
    _, _, client = ingest
    r = client.post("/events", content=b"{not json")
    assert r.status_code == 422 and "not valid JSON" in r.json()["message"]
    r = client.post("/events", json={"events": []})
    assert r.status_code == 422 and "events" in r.json()["message"]
    r = client.post("/events", json={"events": "abc"})
    assert r.status_code == 422 and r.json()["message"].startswith("events:")
    r = client.post("/events", json={"events": [interaction(1)], "extra": 1})
    assert r.status_code == 422 and "extra" in r.json()["message"]
    r = client.post("/events", json=[{**interaction(1), "skill_match": 2.0}])
    assert r.status_code == 422
    assert r.json()["errors"][0]["reason"] == "skill_match: 2.0 is above the maximum 1"


def test_http_batch_answers_per_event_and_sends_the_valid_ones(ingest: Ingest) -> None:
    settings, _, client = ingest
    good = {k: v for k, v in interaction(5).items() if k not in ("event_id", "ts", "source")}
    good["salary_k"] = 90  # JSON integer for a double field is fine
    r = client.post("/events", json={"events": [good, {**good, "region": "mars"}, {"member_id": "m1"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 1 and body["rejected"] == 2
    assert body["errors"][0] == {
        "index": 1,
        "event_id": body["errors"][0]["event_id"],
        "reason": "region: 'mars' is not one of apac, eu, latam, mea, na",
    }
    assert "job_id: required field is missing" in body["errors"][1]["reason"]
    valid = read_topic(settings, "interactions.valid", until=1, timeout_s=30)
    assert len(valid) == 1 and valid[0]["salary_k"] == 90.0 and valid[0]["source"] == "ingest-http"


def test_pause_and_resume_commands(ingest: Ingest) -> None:
    settings, processor, client = ingest
    producer = EventProducer(settings)
    producer.produce(
        "commands",
        sign_command(
            {**header("test"), "command": "pause_ingest", "target": "ingest", "reason": "data quality incident"},
            settings,
        ),
        key="ingest",
    )
    producer.flush()
    wait_until(lambda: processor.paused, 20, "ingest paused", IN_PROCESS_LOG)
    # the consumer applies the pause at its next poll; the gauge says when it did
    gauge = {"service": "ingest"}
    wait_until(
        lambda: REGISTRY.get_sample_value("aig_consumer_paused", gauge) == 1, 20, "pause applied", IN_PROCESS_LOG
    )
    r = client.post("/events", json=[interaction(1)])
    assert r.status_code == 503 and "paused" in r.json()["message"]
    producer.produce("interactions.raw", interaction(7), key="m7")
    producer.flush()
    assert read_topic(settings, "interactions.valid", until=1, timeout_s=3) == []  # quarantined
    resume = {**header("test"), "command": "resume_ingest", "target": "ingest"}
    producer.produce("commands", sign_command(resume, settings, "operator"), key="ingest")
    producer.flush()
    wait_until(lambda: not processor.paused, 20, "ingest resumed", IN_PROCESS_LOG)
    assert len(read_topic(settings, "interactions.valid", until=1, timeout_s=30)) == 1
    assert client.post("/events", json=[interaction(8)]).status_code == 200

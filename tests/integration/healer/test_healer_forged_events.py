"""Forged control events through real Kafka: the healer and the drift service refuse incidents and model
events that are unsigned or signed with a key they do not hold (dead-lettered with the reason), and one
producer of incidents cannot start more episodes than its rate allows (refusals audited)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from healer_itest_support import healer_redis_cleanup, healer_settings, incident, make_healer
from pydantic import SecretStr

from kit.drift_process import DriftProcess
from kit.kafka import read_topic
from kit.wait import IN_PROCESS_LOG, wait_until
from services.common.bus import EventProducer, StreamProcessor
from services.common.codec import codec_for
from services.common.events import header
from services.common.settings import REPO_ROOT, CommonSettings
from services.common.signing import sign_event
from services.healer.service import handler

pytestmark = pytest.mark.infra
__all__ = ["healer_redis_cleanup"]  # an autouse fixture: the import is its registration

CODEC = codec_for(REPO_ROOT / "schemas")
INTRUDER = CommonSettings(command_key=SecretStr("a key the guard does not hold"))


def forged_model_event() -> dict[str, Any]:
    """A 'new live model' that would reset drift's references and verify a retrain that never ran."""
    return {
        **header("trainer"),
        "model_name": "apply",
        "version": 99,
        "status": "live",
        "previous_version": None,
        "artifact_uri": "file:///tmp/nothing",
        "metrics": {},
        "params": {},
        "reason": "",
        "profile": [],
        "command_id": None,
    }


def send_forged(settings: CommonSettings, topic: str, schema: str, record: dict[str, Any], key: str) -> None:
    """Written straight to Kafka, as an intruder would: unsigned, or signed with the wrong key."""
    producer = EventProducer(settings)
    producer.produce_raw(topic, CODEC.encode(schema, record), key)
    producer.produce_raw(topic, CODEC.encode(schema, sign_event(topic, record, INTRUDER)), key)
    producer.flush(10)


def dead_letters(settings: CommonSettings, topic: str, at_least: int) -> list[dict[str, Any]]:
    letters = read_topic(settings, "deadletter", until=lambda got: len(got) >= at_least, timeout_s=60)
    return [d for d in letters if d["topic"].endswith(topic)]


def test_forged_incidents_are_refused_and_one_source_cannot_flood_the_healer(topic_prefix: str) -> None:
    settings = healer_settings(topic_prefix, source_max_episodes=2, cooldown_s=0)
    healer, pool = make_healer(settings, synchronous=True)
    processor = StreamProcessor(settings, ["incidents", "model.events"], f"healer-{topic_prefix}", handler(healer))
    stop = threading.Event()
    thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert processor.wait_ready(30)
        forged = incident(type="service_down", service="inference", summary="forged")
        send_forged(settings, "incidents", "Incident", forged, forged["fingerprint"])
        send_forged(settings, "model.events", "ModelPublished", forged_model_event(), "apply")
        letters = dead_letters(settings, "", at_least=4)
        reasons = sorted(d["error"] for d in letters)
        assert len(letters) == 4, reasons
        assert sum("unsigned" in r for r in reasons) == 2 and sum("does not match" in r for r in reasons) == 2

        flood = [incident(type="data_quality", service="ingest", source="flood") for _ in range(4)]
        producer = EventProducer(settings)  # signed: the guard's own key
        for inc in flood:
            producer.produce("incidents", inc, inc["fingerprint"])
        producer.flush(10)
        by_incident: dict[str, list[tuple[str, str]]] = {}

        def decided() -> bool:
            by_incident.clear()
            for a in read_topic(settings, "actions", timeout_s=5):
                by_incident.setdefault(a["incident_id"], []).append((a["status"], a["reason"]))
            return all(i["incident_id"] in by_incident for i in flood)

        wait_until(decided, 60, "every flooding incident decided", IN_PROCESS_LOG, every_s=0.5)
        assert forged["incident_id"] not in by_incident
        limited = [i for i in flood if any("rate limited" in r for _, r in by_incident[i["incident_id"]])]
        acted = [i for i in flood if any(s == "executed" for s, _ in by_incident[i["incident_id"]])]
        assert len(acted) == 2 and len(limited) == 2, by_incident
        assert all(s == "refused" for i in limited for s, _ in by_incident[i["incident_id"]])
    finally:
        stop.set()
        thread.join(20)
        healer.close()
        pool.close()


def test_the_drift_service_refuses_a_forged_model_event(topic_prefix: str, tmp_path: Path, redis_url: str) -> None:
    drift = DriftProcess(topic_prefix, tmp_path / "drift.log")
    drift.start()
    try:
        settings = CommonSettings(topic_prefix=topic_prefix)
        send_forged(settings, "model.events", "ModelPublished", forged_model_event(), "apply")
        letters = dead_letters(settings, "model.events", at_least=2)
        assert len(letters) == 2, letters
        assert all(d["error_type"] == "contract" for d in letters), letters
        assert {"unsigned" in d["error"] for d in letters} == {True, False}
        assert all(d["consumer_group"] == drift.group_id for d in letters)
    finally:
        drift.stop(redis_url)

"""The drift service on real Kafka and Redis: one data_drift incident for one shift, none for stable traffic."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from kit.kafka import read_topic
from services.common.bus import EventProducer
from services.common.events import header, now_ms
from services.drift.detectors.numeric import NumericDriftDetector
from services.drift.service import DriftService
from services.drift.settings import DriftSettings

pytestmark = pytest.mark.infra


def features(i: int, salary: float, skill: float, region: str) -> dict[str, Any]:
    return {
        **header("feature", event_id=f"fv-{i}"),
        "interaction_id": f"i-{i}",
        "member_id": f"m-{i % 50}",
        "job_id": f"j-{i % 7}",
        "interaction_ts": now_ms(),
        "numeric": {"salary_k": salary, "skill_match": skill},
        "categorical": {"region": region},
    }


def produce_traffic(producer: EventProducer, rng: np.random.Generator, start: int, n: int, shift: float) -> None:
    for i in range(start, start + n):
        region = str(rng.choice(["eu", "us", "apac"], p=[0.5, 0.3, 0.2]))
        v = features(i, float(60 + 15 * shift + 15 * rng.standard_normal()), float(rng.random()), region)
        producer.produce("features", v, key=v["member_id"])
        score = float(rng.random())
        producer.produce(
            "predictions",
            {
                **header("inference"),
                "interaction_id": f"i-{i}",
                "member_id": v["member_id"],
                "job_id": v["job_id"],
                "score": score,
                "model_name": "job_apply",
                "model_version": 1,
                "latency_ms": 1.0,
            },
            key=f"i-{i}",
        )
        applied = bool(rng.random() < score)  # a calibrated model: stable error rate
        producer.produce(
            "labels",
            {
                **header("loadgen"),
                "interaction_id": f"i-{i}",
                "member_id": v["member_id"],
                "applied": applied,
            },
            key=f"i-{i}",
        )
    producer.flush()


def wait_processed(service: DriftService, n: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while service.processor.processed < n:
        assert time.monotonic() < deadline, f"processed {service.processor.processed} of {n} events"
        time.sleep(0.2)


def test_one_data_drift_incident_for_one_shift(make_settings: Callable[..., Any], group_id: str) -> None:
    settings: DriftSettings = make_settings(DriftSettings, group_id=group_id, http_port=0, checkpoint_interval_s=1)
    producer = EventProducer(settings)
    producer.produce(
        "model.events",
        {
            **header("trainer"),
            "model_name": "job_apply",
            "version": 1,
            "status": "live",
            "previous_version": None,
            "artifact_uri": "file:///models/1",
            "metrics": {"auc": 0.8},
            "params": {},
            "reason": "",
            "profile": [],
        },
        key="job_apply",
    )
    producer.flush()
    service = DriftService(settings)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert service.processor.wait_ready(60)
        wait_processed(service, 1)  # the model is live before traffic (a later go-live resets the detectors)
        assert service.monitor.state.live == {"job_apply": 1}
        rng = np.random.default_rng(7)
        produce_traffic(producer, rng, 0, 3000, shift=0.0)
        wait_processed(service, 1 + 3 * 3000)
        assert read_topic(settings, "incidents", timeout_s=3) == []  # stable traffic: nothing
        produce_traffic(producer, rng, 3000, 2500, shift=1.5)
        wait_processed(service, 1 + 3 * 5500)
        incidents = read_topic(settings, "incidents", timeout_s=5)
    finally:
        stop.set()
        thread.join(30)
    drift = [i for i in incidents if i["type"] == "data_drift"]
    assert len(drift) == 1, [(i["summary"], i["evidence"]) for i in incidents]
    assert drift[0]["target"] == "salary_k" and drift[0]["fingerprint"] == "data_drift:salary_k"
    assert drift[0]["evidence"]["feature"] == "salary_k"
    assert [i for i in incidents if i["type"] != "data_drift"] == []
    assert service.monitor.stats["joined"] == 5500
    # the checkpoint written on stop holds what the detectors learnt
    blob = service.checkpointer.load()
    restored = DriftService(settings)
    assert blob is not None and restored.monitor.restore(blob)
    salary = restored.monitor.state.features["salary_k"].drift
    assert isinstance(salary, NumericDriftDetector) and salary.seen == 5500

"""The drift service keeps its word: quiet on normal traffic (seasonal included), loud on real change.

The real drift service (``python -m services.drift``) on real Kafka and Redis, fed what the pipeline
would send (``kit.replay``: loadgen's traffic model and faults through the feature,
trainer and inference code), with short 20 s feature windows as in the demo. Time is the traffic's
event time: "two minutes" is two minutes of interactions, which the service reads as fast as Kafka
gives them. Incidents are read back from the ``incidents`` topic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kit.drift_process import DriftProcess, produce
from kit.kafka import read_topic
from kit.replay import T0_MS, Pipeline
from loadgen.faults.registry import create as create_fault

WINDOW = (20_000, 2_000)  # the demo's feature windows: 20 s in 2 s buckets
DAY_S = 86_400.0


@pytest.fixture
def start_drift(topic_prefix: str, redis_url: str, tmp_path: Path) -> Iterator[Callable[..., DriftProcess]]:
    started: list[DriftProcess] = []

    def start(**env: str) -> DriftProcess:
        service = DriftProcess(topic_prefix, tmp_path / "drift.log", {"AIG_CHECKPOINT_INTERVAL_S": "5", **env})
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        code = service.stop(redis_url)
        assert code in (0, None), f"drift service exit code {code}; see {service.log_path}: {service.log_tail()}"


def seconds_of(ts_ms: int) -> float:
    """Traffic seconds of an event time."""
    return (ts_ms - T0_MS) / 1000.0


def incidents_of(settings: Any, kind: str | None = None) -> list[dict[str, Any]]:
    found = read_topic(settings, "incidents", timeout_s=4)
    return [i for i in found if kind is None or i["type"] == kind]


def opened(incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per incident: the first (count 1); later records of it are updates."""
    first: dict[str, dict[str, Any]] = {}
    for i in incidents:
        first.setdefault(i["incident_id"], i)
    return sorted(first.values(), key=lambda i: i["first_seen"])


def show(incidents: list[dict[str, Any]]) -> list[tuple[str, str, int, str]]:
    return [(i["type"], i["target"], i["count"], i["summary"]) for i in incidents]


def test_concept_drift_is_raised_kept_open_while_it_lasts_and_raised_again_after_a_recovery(
    start_drift: Callable[..., DriftProcess], make_settings: Callable[..., Any]
) -> None:
    """(a) 2 minutes of unchanged traffic after a model goes live: no incident. The concept flips: raised
    within 60 s. It persists, with nobody fixing it (the incident went to a human): the same incident is
    updated, never a new one, never silence. The concept flips back (recovered), then changes again:
    raised again, as a new incident."""
    rate = 200.0
    calm_s, flip_s, back_s, again_s = 120.0, 90.0, 60.0, 60.0
    flip_at = 30.0 + calm_s  # 30 s of pre-roll fill the feature windows
    faults = [
        create_fault("concept_drift", flip_at, flip_s, None),
        create_fault("concept_drift", flip_at + flip_s + back_s, None, None),
    ]
    pipe = Pipeline(seed=11, faults=faults, dt_ms=1000.0 / rate, member_window_ms=WINDOW, job_window_ms=WINDOW)
    pipe.skip(int(rate * 20))
    model = pipe.model(rows=int(rate * 10))  # trained on 10 s before the traffic below
    settings = make_settings()
    drift = start_drift()
    sent = produce(settings, [], model)
    total_s = flip_at + flip_s + back_s + again_s - pipe.counter / rate
    sent += produce(settings, pipe.batches(int(rate * total_s)))
    drift.wait_consumed(sent, 600)
    concept = incidents_of(settings, "concept_drift")
    others = [i for i in incidents_of(settings) if i["type"] != "concept_drift"]
    assert others == [], f"false incidents on unchanged features: {show(others)}; log {drift.log_path}"
    first, *rest = opened(concept)
    assert rest and len(rest) == 1, f"expected the change and its return: {show(opened(concept))}"
    second = rest[0]
    assert flip_at <= seconds_of(first["first_seen"]) <= flip_at + 60, show(concept)
    updates = [i for i in concept if i["incident_id"] == first["incident_id"] and i["count"] > 1]
    assert updates, f"a persisting degradation must update its open incident: {show(concept)}"
    assert all(seconds_of(u["last_seen"]) < flip_at + flip_s + 30 for u in updates)
    again = flip_at + flip_s + back_s
    assert again <= seconds_of(second["first_seen"]) <= again + 60, show(concept)
    assert second["count"] == 1 and second["incident_id"] != first["incident_id"]
    assert float(second["evidence"]["after_error_rate"]) > float(second["evidence"]["before_error_rate"]) + 0.1


def test_seasonal_traffic_gives_no_incident_and_a_one_std_shift_after_it_is_caught(
    start_drift: Callable[..., DriftProcess], make_settings: Callable[..., Any]
) -> None:
    """(b) Traffic with a daily cycle at --time-scale 720 (one day in two minutes): after a model trained on
    more than one simulated day, 5 minutes of it raise no incident; a 1-std shift of distance_km then
    gives a data_drift incident on distance_km."""
    rate, scale = 150.0, 720.0
    day_s = DAY_S / scale
    calm_s = 300.0
    model_rows = int(rate * day_s * 1.2)
    shift_at = 30.0 + model_rows / rate + calm_s
    fault = create_fault("covariate_shift", shift_at, None, {"feature": "distance_km", "std": "1"})
    pipe = Pipeline(
        seed=5, faults=[fault], dt_ms=1000.0 / rate, time_scale=scale, member_window_ms=WINDOW, job_window_ms=WINDOW
    )
    pipe.skip(int(rate * 30))
    model = pipe.model(rows=model_rows)
    settings = make_settings()
    drift = start_drift(AIG_SEASON_PERIOD_S=str(day_s))
    sent = produce(settings, [], model)
    sent += produce(settings, pipe.batches(int(rate * calm_s)))
    drift.wait_consumed(sent, 600)
    calm = incidents_of(settings)
    assert calm == [], f"{len(opened(calm))} false incidents in 5 minutes of seasonal traffic: {show(calm)}"
    sent += produce(settings, pipe.batches(int(rate * 60)))
    drift.wait_consumed(sent, 120)
    found = opened(incidents_of(settings))
    assert found and found[0]["type"] == "data_drift" and found[0]["target"] == "distance_km", show(found)
    assert seconds_of(found[0]["first_seen"]) - shift_at <= 60, show(found)
    assert [i for i in found if i["type"] in ("skew", "concept_drift")] == [], show(found)


def metric(drift: DriftProcess, name: str) -> float:
    for line in httpx.get(f"{drift.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_label_that_arrives_before_its_prediction_is_still_joined(
    start_drift: Callable[..., DriftProcess], make_settings: Callable[..., Any]
) -> None:
    """(c) Inference lags: the label comes first. It waits (counted, not an error) and joins when the
    prediction comes, on another topic, later."""
    pipe = Pipeline(seed=3, dt_ms=100.0, member_window_ms=WINDOW, job_window_ms=WINDOW)
    pipe.skip(300)
    model = pipe.model(rows=2000)
    batch = next(pipe.batches(20, size=20))
    settings = make_settings()
    drift = start_drift()
    sent = produce(settings, [], model)
    early = list(batch.labels)
    assert early, "the batch has no label to send early"
    ids = {lb["interaction_id"] for lb in early}
    waiting = type(batch)(labels=early)
    sent += produce(settings, [waiting])
    drift.wait_consumed(sent, 60)
    assert metric(drift, "aig_drift_labels_waiting_total") == len(early)
    assert metric(drift, "aig_drift_joined_total") == 0
    late = type(batch)(predictions=[p for p in batch.predictions if p["interaction_id"] in ids])
    sent += produce(settings, [late])
    drift.wait_consumed(sent, 60)
    assert metric(drift, "aig_drift_labels_joined_after_wait_total") == len(early), drift.log_path
    assert metric(drift, "aig_drift_joined_total") == len(early)

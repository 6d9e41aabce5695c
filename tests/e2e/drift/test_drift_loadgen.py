"""The real drift service on real Kafka, fed by loadgen's traffic and fault plugins through the pipeline's code.

Per scenario: a LightGBM model trained on a warm-up slice of loadgen traffic goes live (its
ModelPublished event carries the reference profile), then FeatureVectors, predictions and delayed
labels are produced as fast as Kafka takes them, with one loadgen fault from a known interaction on.
``python -m services.drift`` runs as a subprocess on the test's own topic prefix, consumer group,
HTTP port and Redis prefix; the incidents it publishes are read back from Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kit.drift_process import DriftProcess, produce
from kit.kafka import read_topic
from kit.replay import PREROLL, Pipeline, with_fault
from loadgen.faults.base import Fault

STABLE = 4_000  # interactions before the fault: numeric warm-up 1000, error-rate warm-up 2000 labels
FAULTY = 4_000
STABLE_LONG = 34_000  # the no-incident proof: 34k interactions = 102k events (features, predictions, labels)
FAULT_AT = PREROLL + 6000 + STABLE  # the fault's first interaction


@pytest.fixture
def drift(topic_prefix: str, redis_url: str, tmp_path: Path) -> Iterator[DriftProcess]:
    service = DriftProcess(topic_prefix, tmp_path / "drift.log", {"AIG_CHECKPOINT_INTERVAL_S": "5"})
    try:
        yield service
    finally:
        code = service.stop(redis_url)
        assert code in (0, None), f"drift service exit code {code}: {service.log_tail()}"


def run(
    drift: DriftProcess, make_settings: Callable[..., Any], fault: Fault | None, interactions: int
) -> tuple[list[dict[str, Any]], int, float]:
    """Train, publish the model, start the service, send the traffic; returns (incidents, messages, seconds)."""
    settings = make_settings()
    pipe = Pipeline(seed=7, faults=[fault] if fault else [])
    pipe.skip(PREROLL)
    model = pipe.model()
    assert model["profile"] and model["metrics"]["auc"] > 0.7  # a real model with its reference profile
    sent = produce(settings, [], model)
    drift.start()
    drift.wait_consumed(sent, 60)  # live before any traffic: a later go-live would reset the detectors
    t0 = time.monotonic()
    sent += produce(settings, pipe.batches(interactions))
    drift.wait_consumed(sent, 240)
    elapsed = time.monotonic() - t0
    incidents = read_topic(settings, "incidents", timeout_s=4)
    return incidents, sent, elapsed


def by_type(incidents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The incidents of one type, each once (a persisting problem also sends updates of its incident)."""
    first: dict[str, dict[str, Any]] = {}
    for i in incidents:
        if i["type"] == kind:
            first.setdefault(i["incident_id"], i)
    return list(first.values())


def show(incidents: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(i["type"], i["target"], i["summary"]) for i in incidents]


Scenario = Callable[[Fault, str, int], tuple[dict[str, Any], list[dict[str, Any]]]]


@pytest.fixture
def one_incident(drift: DriftProcess, make_settings: Callable[..., Any]) -> Scenario:
    """Runs a fault's scenario over a number of interactions: the one incident of a kind it must give,
    and every incident record."""

    def scenario(fault: Fault, kind: str, interactions: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        incidents, sent, secs = run(drift, make_settings, fault, interactions)
        print(f"{fault.name}: {sent} messages in {secs:.1f}s; incidents {show(incidents)}")
        found = by_type(incidents, kind)
        assert len(found) == 1, show(incidents)
        return found[0], incidents

    return scenario


def test_covariate_shift_gives_one_data_drift_incident_naming_the_feature(one_incident: Scenario) -> None:
    fault = with_fault("covariate_shift", FAULT_AT, feature="salary_k", std="2")
    inc, _ = one_incident(fault, "data_drift", STABLE + FAULTY)
    assert inc["target"] == "salary_k" and inc["fingerprint"] == "data_drift:salary_k"
    assert inc["evidence"]["feature"] == "salary_k"
    assert float(inc["evidence"]["after_mean"]) > float(inc["evidence"]["before_mean"]) + 40  # +2 std = +80k


def test_label_function_change_gives_a_concept_drift_incident(one_incident: Scenario) -> None:
    fault = with_fault("concept_drift", FAULT_AT)
    concept, incidents = one_incident(fault, "concept_drift", STABLE + FAULTY)
    updates = [i for i in incidents if i["incident_id"] == concept["incident_id"] and i["count"] > 1]
    assert all(u["evidence"]["state"] == "persisting" for u in updates)  # still worse: the same incident
    ev = concept["evidence"]
    assert concept["target"] == "job_apply"
    assert float(ev["after_error_rate"]) > float(ev["before_error_rate"])
    assert by_type(incidents, "data_drift") == [] and by_type(incidents, "skew") == []  # features did not move


def test_unit_change_gives_a_skew_incident_naming_the_feature(one_incident: Scenario) -> None:
    fault = with_fault("unit_change", FAULT_AT, feature="salary_k", factor="1000")
    skew, _ = one_incident(fault, "skew", STABLE + FAULTY)
    assert skew["target"] == "salary_k" and skew["fingerprint"] == "skew:salary_k"
    assert "unit or scaling" in skew["summary"]


def test_null_burst_gives_a_data_quality_incident(one_incident: Scenario) -> None:
    fault = with_fault("null_burst", FAULT_AT, 500, feature="skill_match")
    quality, incidents = one_incident(fault, "data_quality", STABLE + 2000)
    assert quality["target"] == "skill_match" and quality["root_cause"] == "data_quality"
    assert "null" in quality["evidence"]["reasons"]
    assert [i for i in incidents if i["type"] != "data_quality"] == []
    assert len({i["incident_id"] for i in incidents}) == 1


def test_stable_traffic_of_100k_events_gives_no_incident(
    drift: DriftProcess, make_settings: Callable[..., Any]
) -> None:
    incidents, sent, secs = run(drift, make_settings, None, STABLE_LONG)
    print(f"stable: {sent} messages in {secs:.1f}s ({sent / secs:,.0f}/s); incidents {show(incidents)}")
    assert sent >= 100_000
    assert incidents == [], show(incidents)

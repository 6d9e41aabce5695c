"""The drift monitor end to end on decoded events: incidents, join, resets, checkpoints, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from services.drift.handlers import DriftMonitor
from services.drift.join import MemoryPendingStore
from tests.unit.drift.drift_fixtures import (
    T0,
    fv,
    label,
    model_live,
    monitor,
    numeric_profile,
    prediction,
    thresholds,
)


def feed_features(mon: DriftMonitor, rows: list[dict[str, float | None]], start: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for k, row in enumerate(rows):
        out += mon.handle("features", fv(start + k, row, {"device": "web"}))
    return out


def stable_rows(rng: np.random.Generator, n: int, salary_shift: float = 0.0) -> list[dict[str, float | None]]:
    return [
        {
            "salary_k": float(60 + 15 * salary_shift + 15 * rng.standard_normal()),
            "skill_match": float(rng.random()),
        }
        for _ in range(n)
    ]


def test_one_incident_per_shift_with_evidence() -> None:
    rng = np.random.default_rng(11)
    mon = monitor()
    before = feed_features(mon, stable_rows(rng, 4000))
    after = feed_features(mon, stable_rows(rng, 6000, salary_shift=1.5), start=4000)
    assert before == []
    drift = [i for i in after if i["type"] == "data_drift"]
    assert len(drift) == 1, [i["summary"] for i in after]
    inc = drift[0]
    assert inc["fingerprint"] == "data_drift:salary_k" and inc["target"] == "salary_k"
    ev = inc["evidence"]
    for key in ("feature", "detector", "before_mean", "before_std", "after_mean", "after_std", "summary"):
        assert key in ev
    assert ev["recent_window"].isdigit() and ev["reference_window"] == "1000"
    assert "salary_k" in inc["summary"] and inc["summary"] == ev["summary"]
    assert inc["incident_id"] == inc["event_id"] and inc["count"] == 1


def test_distribution_detectors_wait_for_the_first_live_model_but_quality_does_not() -> None:
    rng = np.random.default_rng(21)
    mon = monitor(live=False)
    rows = stable_rows(rng, 3000) + stable_rows(rng, 3000, salary_shift=3.0)  # e.g. windows filling up
    assert [i for i in feed_features(mon, rows) if i["type"] == "data_drift"] == []
    nulls = [{"salary_k": 60.0, "skill_match": None} for _ in range(600)]
    assert [i["type"] for i in feed_features(mon, nulls, start=6000)] == ["data_quality"]


def test_a_second_change_within_the_cooldown_updates_the_open_incident() -> None:
    rng = np.random.default_rng(12)
    mon = monitor(cooldown_ms=10**9)
    rows = stable_rows(rng, 3000) + stable_rows(rng, 4000, 2.0) + stable_rows(rng, 4000, 4.0)
    out = [i for i in feed_features(mon, rows) if i["fingerprint"] == "data_drift:salary_k"]
    assert len(out) == 2, [i["summary"] for i in out]
    first, update = out
    assert update["incident_id"] == first["incident_id"] and update["event_id"] != first["event_id"]
    assert first["count"] == 1 and update["count"] == 2 and update["first_seen"] == first["first_seen"]
    assert update["last_seen"] > first["last_seen"] and update["evidence"]["state"] == "persisting"


def test_a_change_after_the_cooldown_opens_a_new_incident() -> None:
    rng = np.random.default_rng(12)
    mon = monitor(cooldown_ms=20_000)  # 2000 events of 10 ms
    rows = stable_rows(rng, 3000) + stable_rows(rng, 4000, 2.0) + stable_rows(rng, 4000, 4.0)
    out = [i for i in feed_features(mon, rows) if i["fingerprint"] == "data_drift:salary_k"]
    assert len({i["incident_id"] for i in out}) == 2 and all(i["count"] == 1 for i in out)


def test_a_new_model_resets_its_error_rate_and_profile_but_not_the_feature_references() -> None:
    rng = np.random.default_rng(13)
    mon = monitor()
    feed_features(mon, stable_rows(rng, 2000))
    for i in range(50):
        mon.handle("predictions", prediction(i, 0.9))
        mon.handle("labels", label(i, True))
    assert not mon.state.features["salary_k"].drift.warming_up
    assert mon.state.errors["job_apply"].reference
    profile = [numeric_profile("salary_k", 60 + 15 * rng.standard_normal(2000))]
    mon.handle("model.events", model_live(2, profile))
    assert not mon.state.features["salary_k"].drift.warming_up  # the inputs do not depend on the model
    assert mon.state.errors["job_apply"].warming_up and not mon.state.errors["job_apply"].reference
    assert mon.state.features["salary_k"].skew is not None
    assert mon.state.live == {"job_apply": 2}
    mon.handle("model.events", model_live(2))  # a replay of the same go-live changes nothing
    assert mon.state.features["salary_k"].skew is not None
    mon.handle("model.events", {**model_live(3), "status": "rejected"})
    assert mon.state.live == {"job_apply": 2}


def test_labels_of_interactions_from_before_the_model_went_live_are_left_out() -> None:
    """The backlog a new model scores first is its own training data: in-sample, optimistic errors."""
    mon = monitor(live=False)
    mon.handle("model.events", model_live(1, ts=T0 + 1000 * 10))
    for i in range(2000):
        mon.handle("predictions", prediction(i, 0.9))
        mon.handle("labels", label(i, True))
    assert mon.stats["joined_before_live"] == 1000 and mon.state.errors["job_apply"].reference
    assert len(mon.state.errors["job_apply"].reference) == 1000


def test_checkpoint_round_trip_continues_where_it_stopped() -> None:
    rng = np.random.default_rng(14)
    rows = stable_rows(rng, 3000) + stable_rows(rng, 3000, 1.5)
    whole = monitor()
    expected = feed_features(whole, rows)
    first = monitor()
    assert feed_features(first, rows[:2500]) == []  # warm-up done, the shift (at 3000) not yet seen
    blob = first.snapshot()
    second = DriftMonitor(thresholds(), MemoryPendingStore())
    assert second.restore(blob)
    resumed = feed_features(second, rows[2500:], start=2500)
    assert [i["event_id"] for i in resumed] == [i["event_id"] for i in expected] != []
    assert not DriftMonitor(thresholds(), MemoryPendingStore()).restore(b"not a pickle")


def test_bad_input_is_counted_never_raised() -> None:
    mon = monitor()
    rng = np.random.default_rng(15)
    feed_features(mon, stable_rows(rng, 10))
    web = {"device": "web"}
    assert mon.handle("features", fv(100, {"skill_match": 0.5}, web)) == []  # salary_k missing
    assert mon.handle("features", fv(101, {"salary_k": float("nan"), "skill_match": 0.5}, web)) == []
    assert mon.handle("features", fv(102, {"salary_k": "abc", "skill_match": 0.5}, web)) == []  # type: ignore[dict-item]
    assert mon.handle("features", {"event_id": "x", "numeric": None}) == []
    assert mon.handle("labels", label(999, True)) == []
    assert mon.handle("labels", {"event_id": "y"}) == []
    assert mon.handle("predictions", {**prediction(5, 0.5), "score": float("nan")}) == []
    assert mon.handle("bogus", {}) == []
    s = mon.stats
    assert s["missing_feature"] == 1 and s["value_nan"] >= 2 and s["bad_numeric_value"] == 1
    assert s["malformed_features"] == 1 and s["label_waiting"] == 1 and s["malformed_label"] == 1
    assert s["malformed_prediction"] == 1 and s["unknown_topic"] == 1


def test_skew_incident_from_a_x1000_unit_change() -> None:
    rng = np.random.default_rng(16)
    train = 60 + 15 * rng.standard_normal(5000)
    mon = monitor(live=False)
    mon.handle("model.events", model_live(1, [numeric_profile("salary_k", train)]))
    ok = feed_features(mon, [{"salary_k": float(v)} for v in 60 + 15 * rng.standard_normal(3000)])
    assert [i for i in ok if i["type"] == "skew"] == []
    bad: list[dict[str, float | None]] = [{"salary_k": float(v) * 1000} for v in 60 + 15 * rng.standard_normal(3000)]
    out = feed_features(mon, bad, start=3000)
    skew = [i for i in out if i["type"] == "skew"]
    assert len({i["incident_id"] for i in skew}) == 1 and skew[0]["fingerprint"] == "skew:salary_k"
    assert float(skew[0]["evidence"]["scale_factor"]) == pytest.approx(1000, rel=0.2)
    assert [i for i in out if i["type"] == "data_drift"] == []  # a change of units is not drift


def test_data_quality_on_a_null_burst() -> None:
    rng = np.random.default_rng(17)
    mon = monitor()
    rows = stable_rows(rng, 1500)
    for r in rows[1000:1200]:
        r["salary_k"] = None
    out = feed_features(mon, rows)
    dq = [i for i in out if i["type"] == "data_quality"]
    assert len(dq) == 1 and dq[0]["fingerprint"] == "data_quality:salary_k"
    assert dq[0]["root_cause"] == "data_quality" and "null" in dq[0]["summary"]
    assert mon.stats["value_null"] == 200
    assert [i for i in out if i["type"] == "data_drift"] == []  # nulls are not a distribution shift


def test_concept_drift_on_a_label_function_change_through_the_join() -> None:
    rng = np.random.default_rng(18)
    mon = monitor()
    mon.handle("model.events", model_live(1))
    out: list[dict[str, Any]] = []
    for i in range(8000):
        x = rng.standard_normal(2)
        score = 1 / (1 + np.exp(-4 * (x[0] + x[1])))  # the model learnt y = x0 + x1 > 0
        truth = (x[0] + x[1] > 0) if i < 4000 else (x[0] - x[1] > 0)
        truth ^= bool(rng.random() < 0.05)
        if i % 10 == 0:  # late predictions: the label is parked and joined when the prediction comes
            out += mon.handle("labels", label(i, bool(truth)))
            out += mon.handle("predictions", prediction(i, float(score)))
        else:
            out += mon.handle("predictions", prediction(i, float(score)))
            out += mon.handle("labels", label(i, bool(truth)))
    concept = [i for i in out if i["type"] == "concept_drift"]
    assert len({i["incident_id"] for i in concept}) == 1 and concept[0]["count"] == 1
    inc = concept[0]
    assert inc["fingerprint"] == "concept_drift:job_apply"
    assert int(inc["evidence"]["trigger_event_id"].split("-")[1]) >= 4000
    assert float(inc["evidence"]["after_error_rate"]) > float(inc["evidence"]["before_error_rate"]) + 0.1
    assert mon.stats["joined"] == 8000 and mon.stats["label_waiting"] == 800
    assert mon.stats["joined_label_first"] == 800


def test_labels_for_an_older_model_are_not_held_against_the_new_one() -> None:
    mon = monitor()
    mon.handle("model.events", model_live(1))
    mon.handle("predictions", prediction(1, 0.9, version=1))
    mon.handle("model.events", model_live(2))
    mon.handle("labels", label(1, False))
    assert mon.stats["joined_stale_model"] == 1
    assert mon.state.errors == {}


@pytest.mark.parametrize(("burst_at", "root_cause"), [(13_000, "upstream_data"), (1_000, None)])
def test_a_model_degradation_is_blamed_on_bad_data_only_while_that_data_is_still_seen(
    burst_at: int, root_cause: str | None
) -> None:
    """A null burst 130 s of event time before the concept changes is over, not a cause; 10 s before, it is."""
    rng = np.random.default_rng(19)
    mon = monitor()
    rows = stable_rows(rng, burst_at + 600)
    for r in rows[burst_at : burst_at + 200]:
        r["salary_k"] = None
    assert [i["type"] for i in feed_features(mon, rows)] == ["data_quality"]
    out: list[dict[str, Any]] = []
    for i in range(10_000, 18_000):  # event time 100 s to 180 s; the concept flips at 140 s
        x = rng.standard_normal(2)
        score = 1 / (1 + np.exp(-4 * (x[0] + x[1])))
        truth = bool((x[0] + x[1] > 0) if i < 14_000 else (x[0] - x[1] > 0))
        out += mon.handle("predictions", prediction(i, float(score)))
        out += mon.handle("labels", label(i, truth))
    concept = [i for i in out if i["type"] == "concept_drift"]
    assert concept, "the concept change was not detected"
    assert concept[0]["root_cause"] == root_cause, concept[0]["explanation"]

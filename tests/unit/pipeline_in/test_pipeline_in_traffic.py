"""The traffic generator: determinism, pacing, seasonality, the hidden label function, faults."""

from __future__ import annotations

import collections
import json
import math
from typing import Any

import pytest

from loadgen.cli import main as cli_main
from loadgen.faults.base import Fault, FaultError
from loadgen.faults.registry import FAULTS, create
from loadgen.traffic import (
    Emission,
    TokenBucket,
    TrafficConfig,
    TrafficGenerator,
    TruthCoefficients,
    apply_probability,
)


def _events(n: int, seed: int = 3, faults: list[Fault] | None = None, **cfg: Any) -> list[Emission]:
    gen = TrafficGenerator(TrafficConfig(seed=seed, members=500, jobs=300, **cfg), faults or [])
    return [gen.next(i, i / 100.0, 1_700_000_000_000 + i) for i in range(n)]


def test_same_seed_same_events_and_ids() -> None:
    a, b = _events(300), _events(300)
    assert [e.event for e in a] == [e.event for e in b]
    assert [e.applied for e in a] == [e.applied for e in b]
    assert len({e.event["event_id"] for e in a}) == 300


def test_other_seed_or_run_id_gives_other_events() -> None:
    base = _events(50)
    assert [e.event for e in _events(50, seed=4)] != [e.event for e in base]
    other_run = _events(50, run_id="r2")
    assert [e.event["member_id"] for e in other_run] == [e.event["member_id"] for e in base]
    assert not {e.event["event_id"] for e in other_run} & {e.event["event_id"] for e in base}


def test_events_must_be_generated_in_order() -> None:
    gen = TrafficGenerator(TrafficConfig(members=10, jobs=10))
    gen.next(0, 0.0, 0)
    with pytest.raises(ValueError, match="in order"):
        gen.next(5, 0.0, 0)


def test_members_keep_their_attributes_and_jobs_are_skewed() -> None:
    events = [e.event for e in _events(5000)]
    by_member: dict[str, set[tuple[Any, ...]]] = collections.defaultdict(set)
    for e in events:
        by_member[e["member_id"]].add((e["region"], e["device"], e["years_experience"]))
    assert all(len(v) == 1 for v in by_member.values())
    counts = sorted(collections.Counter(e["job_id"] for e in events).values(), reverse=True)
    top_share = sum(counts[:10]) / len(events)
    assert top_share > 0.2, top_share  # Zipf: ten of 300 jobs get a large share of views


def test_hour_of_day_follows_the_simulated_clock_and_region_mix_changes() -> None:
    gen = TrafficGenerator(TrafficConfig(seed=1, members=800, jobs=100, time_scale=3600.0, start_hour_utc=0.0))
    # time_scale 3600: one simulated hour per second; 24 s = a day
    hours: collections.Counter[int] = collections.Counter()
    regions_at: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for i in range(4800):
        t = i / 200.0
        e = gen.next(i, t, 0).event
        hours[e["hour_of_day"]] += 1
        regions_at[int(gen.utc_hour(t))][e["region"]] += 1
    assert len(hours) == 24
    # at 08 UTC it is 3 h at night in na; at 15 UTC it is 10 h, the morning peak
    night = regions_at[8]["na"] / sum(regions_at[8].values())
    day = regions_at[15]["na"] / sum(regions_at[15].values())
    assert day > 2 * night, (day, night)


def test_label_function_prefers_skill_and_flips_under_concept_drift() -> None:
    base = {
        "years_experience": 5.0,
        "salary_k": 90.0,
        "skill_match": 0.9,
        "distance_km": 10.0,
        "seniority": "mid",
        "remote": False,
        "hour_of_day": 12,
    }
    coef = TruthCoefficients()
    high = apply_probability(base, coef)
    low = apply_probability({**base, "skill_match": 0.1}, coef)
    assert high > low + 0.3
    assert apply_probability({**base, "hour_of_day": 20}, coef) > apply_probability({**base, "hour_of_day": 8}, coef)
    flipped = coef.flipped()
    assert apply_probability({**base, "skill_match": 0.1}, flipped) > apply_probability(base, flipped)


def test_labels_follow_the_probability() -> None:
    ems = _events(6000)
    rate = sum(e.applied for e in ems) / len(ems)
    expected = sum(e.p_apply for e in ems) / len(ems)
    assert abs(rate - expected) < 0.02
    assert 0.05 < rate < 0.4
    hi = [e.applied for e in ems if e.event["skill_match"] > 0.7]
    lo = [e.applied for e in ems if e.event["skill_match"] < 0.3]
    assert sum(hi) / len(hi) > 2 * sum(lo) / max(1, len(lo))
    assert all(2.0 <= e.label_delay_s <= 5.0 for e in ems)
    label = ems[0].label(123)
    assert label["interaction_id"] == ems[0].event["event_id"] and label["applied"] == ems[0].applied


def test_token_bucket_paces_to_the_rate() -> None:
    bucket = TokenBucket(rate=500.0, burst=50.0, now=0.0)
    sent, t = 0, 0.0
    while t < 10.0:
        t += 0.003
        sent += bucket.take(t, 1000)
    assert abs(sent - 5000) <= 2
    # a long stall only releases the burst, not the whole backlog
    assert bucket.take(t + 60.0, 10_000) == 50


def test_covariate_shift_moves_the_feature_after_fault_at() -> None:
    fault = create("covariate_shift", start_s=1.0, params={"feature": "salary_k", "std": "2"})
    shifted = _events(200, faults=[fault])
    plain = _events(200)
    for a, b in zip(plain, shifted, strict=True):
        if a.counter / 100.0 < 1.0:
            assert a.event == b.event
        else:
            assert b.event["salary_k"] == pytest.approx(a.event["salary_k"] + 80.0)


def test_unit_change_changes_the_report_not_the_outcome() -> None:
    fault = create("unit_change", start_s=0.0)
    changed, plain = _events(300, faults=[fault]), _events(300)
    assert [e.applied for e in changed] == [e.applied for e in plain]
    assert changed[5].event["salary_k"] == pytest.approx(plain[5].event["salary_k"] * 1000)


def test_concept_drift_changes_outcomes_not_features() -> None:
    drift, plain = _events(3000, faults=[create("concept_drift")]), _events(3000)
    assert [e.event for e in drift] == [e.event for e in plain]
    hi = [e.applied for e in drift if e.event["skill_match"] > 0.7]
    lo = [e.applied for e in drift if e.event["skill_match"] < 0.3]
    assert sum(lo) / len(lo) > sum(hi) / len(hi)


def test_null_burst_is_bounded_in_time() -> None:
    ems = _events(400, faults=[create("null_burst", start_s=1.0, duration_s=2.0)])
    nulls = [e.counter for e in ems if e.event["skill_match"] is None]
    assert nulls and min(nulls) == 100 and max(nulls) == 299


def test_schema_break_sends_bad_bytes_and_bad_values() -> None:
    ems = _events(400, faults=[create("schema_break", start_s=0.0, params={"rate": "0.5"})])
    raw = [e.raw for e in ems if e.raw is not None]
    assert raw and "salary" in json.loads(raw[0])
    bad_values = [
        e
        for e in ems
        if e.raw is None
        and (
            e.event["hour_of_day"] > 23
            or e.event["skill_match"] > 1
            or e.event["device"] not in ("web", "ios", "android")
            or e.event["region"] == ""
            or e.event["years_experience"] < 0
        )
    ]
    assert bad_values


def test_fault_errors_are_clear() -> None:
    with pytest.raises(FaultError, match="unknown fault"):
        create("nope")
    with pytest.raises(FaultError, match="unknown parameter"):
        create("null_burst", params={"colour": "red"})
    with pytest.raises(FaultError, match="feature must be one of"):
        create("unit_change", params={"feature": "region"})
    assert set(FAULTS) >= {
        "covariate_shift",
        "concept_drift",
        "unit_change",
        "null_burst",
        "schema_break",
        "kill_container",
    }


def test_cli_sample_and_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["sample", "--count", "3", "--seed", "9"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert cli_main(["sample", "--count", "3", "--seed", "9"]) == 0
    assert capsys.readouterr().out.splitlines() == first
    assert cli_main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert "covariate_shift" in out and "schema_break" in out
    assert cli_main(["sample", "--fault", "null_burst", "--fault-param", "bogus=1"]) == 2


def test_hour_features_are_valid() -> None:
    for e in _events(500):
        assert 0 <= e.event["hour_of_day"] <= 23
        assert 0.0 <= e.event["skill_match"] <= 1.0
        assert not math.isnan(e.p_apply)


class _FakeSender:
    """Records what would go to Kafka (the runner's pacing and label bookkeeping are the subject)."""

    def __init__(self) -> None:
        self.events: list[Emission] = []
        self.labels: list[dict[str, Any]] = []
        self.flushed = False

    def interaction(self, em: Emission) -> None:
        self.events.append(em)

    def label(self, label: dict[str, Any]) -> None:
        self.labels.append(label)

    def queued(self) -> int:
        return 0

    def poll(self) -> None:
        pass

    def flush(self, timeout_s: float) -> None:
        self.flushed = True


def test_runner_paces_and_sends_every_label_on_stop() -> None:
    import threading

    from loadgen.run import run_traffic

    sender = _FakeSender()
    gen = TrafficGenerator(TrafficConfig(seed=2, members=100, jobs=50, label_delay_s=(2.0, 5.0)))
    stats = run_traffic(gen, sender, rate=400.0, duration_s=1.0, stop=threading.Event(), progress=None)  # type: ignore[arg-type]
    assert 360 <= stats.sent <= 420, stats.sent
    assert len(sender.events) == stats.sent
    # delays are 2-5 s but the run lasted 1 s: the pending labels are sent at the stop, none is lost
    assert sorted(lb["interaction_id"] for lb in sender.labels) == sorted(e.event["event_id"] for e in sender.events)
    assert sender.flushed

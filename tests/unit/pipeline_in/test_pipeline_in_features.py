"""Feature logic: sliding windows, the FeatureVector, online hashes, offline rows, the declared columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.common.codec import codec_for
from services.common.model.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from services.common.settings import REPO_ROOT
from services.feature import handlers

MIN = 60_000


def test_window_counts_only_the_last_hour() -> None:
    state, count = None, 0
    for i in range(12):  # one view every 5 minutes for an hour
        state, count = handlers.add_to_window(state, i * 5 * MIN, 60 * MIN, 5 * MIN)
    assert count == 12
    state, count = handlers.add_to_window(state, 60 * MIN, 60 * MIN, 5 * MIN)
    assert count == 12  # the view at 0 left the window
    assert len(state) == 12
    state, count = handlers.add_to_window(state, 200 * MIN, 60 * MIN, 5 * MIN)
    assert count == 1 and len(state) == 1


def test_window_several_events_in_one_bucket_and_late_events() -> None:
    state = None
    for _ in range(5):
        state, count = handlers.add_to_window(state, 10 * MIN + 1, 10 * MIN, MIN)
    assert count == 5
    state, count = handlers.add_to_window(state, 25 * MIN, 10 * MIN, MIN)
    assert count == 1
    late_state, late = handlers.add_to_window(state, 5 * MIN, 10 * MIN, MIN)
    assert late == 0 and late_state == state  # too late: not counted, state unchanged
    state, count = handlers.add_to_window(state, 20 * MIN, 10 * MIN, MIN)  # out of order but in the window
    assert count == 1
    state, count = handlers.add_to_window(state, 25 * MIN + 5, 10 * MIN, MIN)
    assert count == 3


def test_window_state_survives_json() -> None:
    import json

    state, _ = handlers.add_to_window(None, 1_700_000_000_000, 60 * MIN, 5 * MIN)
    state = json.loads(json.dumps(state))
    _, count = handlers.add_to_window(state, 1_700_000_060_000, 60 * MIN, 5 * MIN)
    assert count == 2
    with pytest.raises(ValueError):
        handlers.add_to_window(None, 0, 10, 3)


def interaction() -> dict[str, Any]:
    return {
        "event_id": "e-1",
        "ts": 1_700_000_000_000,
        "source": "t",
        "member_id": "m1",
        "job_id": "j9",
        "region": "eu",
        "device": "ios",
        "industry": "finance",
        "seniority": "senior",
        "years_experience": 7.5,
        "salary_k": 120.0,
        "skill_match": 0.6,
        "distance_km": 3.0,
        "dwell_s": None,
        "remote": True,
        "hour_of_day": 6,
    }


def test_feature_vector_has_the_declared_columns_and_encodes() -> None:
    fv = handlers.feature_vector(interaction(), 4, 17, "feature", 1_700_000_000_500)
    assert tuple(fv["numeric"]) == NUMERIC_FEATURES
    assert tuple(fv["categorical"]) == CATEGORICAL_FEATURES
    assert fv["numeric"]["member_views"] == 4.0 and fv["numeric"]["job_views"] == 17.0
    assert fv["numeric"]["dwell_s"] is None and fv["numeric"]["remote"] == 1.0
    assert fv["numeric"]["hour_sin"] == pytest.approx(1.0) and fv["numeric"]["hour_cos"] == pytest.approx(0.0, abs=1e-9)
    assert fv["interaction_id"] == "e-1" and fv["interaction_ts"] == 1_700_000_000_000
    # the same interaction always yields the same vector id (replays dedupe)
    assert handlers.feature_vector(interaction(), 5, 1, "feature", 0)["event_id"] == fv["event_id"]
    codec = codec_for(Path(REPO_ROOT / "schemas"))
    assert codec.decode(codec.encode("FeatureVector", fv), "FeatureVector") == fv


def test_online_hashes_split_by_entity() -> None:
    fv = handlers.feature_vector(interaction(), 4, 17, "feature", 0)
    hashes = handlers.online_hashes(fv, "features:")
    assert set(hashes) == {"features:member:m1", "features:job:j9", "features:pair:m1:j9"}
    assert hashes["features:member:m1"]["member_views"] == "4.0"
    assert hashes["features:member:m1"]["region"] == "eu"
    assert hashes["features:job:j9"]["job_views"] == "17.0"
    assert hashes["features:pair:m1:j9"]["dwell_s"] == ""  # missing
    covered = set().union(*(set(h) for h in hashes.values())) - {"updated_ms"}
    assert covered == set(NUMERIC_FEATURES) | set(CATEGORICAL_FEATURES)


def test_offline_rows() -> None:
    fv = handlers.feature_vector(interaction(), 1, 1, "feature", 0)
    iid, member, job, ts, numeric, categorical = handlers.feature_row(fv)
    assert (iid, member, job) == ("e-1", "m1", "j9") and ts.timestamp() == 1_700_000_000
    assert numeric["salary_k"] == 120.0 and categorical["seniority"] == "senior"
    row = handlers.label_row({"interaction_id": "e-1", "applied": True, "ts": 1_700_000_005_000})
    assert row[0] == "e-1" and row[1] is True and row[2].timestamp() == 1_700_000_005


def test_faust_internal_topics_are_declared_as_faust_would(tmp_path: Path) -> None:
    from services.feature.app import build_app, consumed_topics, internal_topics
    from services.feature.settings import FeatureSettings

    settings = FeatureSettings(topic_prefix="p.", data_dir=tmp_path, store="memory://", log_to_kafka=False)
    fa = build_app(settings)
    topics = {t.name: t for t in internal_topics(fa)}
    assert set(topics) == {
        "p.aig-feature-by-job",
        "p.aig-feature-member-views-changelog",
        "p.aig-feature-job-views-changelog",
        "p.aig-feature-__assignor-__leader",
    }
    assert topics["p.aig-feature-by-job"].partitions == 3 and topics["p.aig-feature-by-job"].config == {}
    assert topics["p.aig-feature-__assignor-__leader"].partitions == 1
    for table in ("member-views", "job-views"):
        changelog = topics[f"p.aig-feature-{table}-changelog"]
        assert changelog.partitions == 3 and changelog.config == {"cleanup.policy": "compact"}
    # The same names faust itself reads: input, repartition and changelog topics.
    assert consumed_topics(fa) == [
        "p.interactions.valid",
        "p.aig-feature-by-job",
        "p.aig-feature-member-views-changelog",
        "p.aig-feature-job-views-changelog",
    ]


def test_worker_is_ready_only_when_running_recovered_and_holding_every_topic() -> None:
    from services.feature.readiness import WorkerState, assess

    required = ["in", "by-job", "changelog"]
    held = {"in": 3, "by-job": 3, "changelog": 3}
    agents = {"by_member": True, "by_job": True}
    assert assess(WorkerState(False, False, agents, held), required) == (
        True,
        "faust worker holds partitions of in: 3, by-job: 3, changelog: 3",
    )
    assert assess(WorkerState(True, False, agents, held), required) == (False, "faust worker rebalancing")
    assert assess(WorkerState(False, True, agents, held), required)[1].startswith("faust worker recovering")
    assert assess(WorkerState(False, False, {**agents, "by_job": False}, held), required) == (
        False,
        "faust agents not running: by_job",
    )
    # The startup race: the repartition topic missing from the assignment.
    assert assess(WorkerState(False, False, agents, {"in": 3, "changelog": 3}), required) == (
        False,
        "faust worker holds no partition of by-job",
    )

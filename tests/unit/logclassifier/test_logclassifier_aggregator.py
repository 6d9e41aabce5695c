"""Bursts become one explained incident, updated while it persists; benign lines and small counts give none."""

from __future__ import annotations

from typing import cast

import pytest

from services.logclassifier.aggregator import BurstAggregator, Classified

REFUSED = "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused."


def rec(
    i: int,
    root_cause: str = "dependency_unavailable",
    text: str = REFUSED,
    service: str = "inference",
    ts0: int = 1_700_000_000_000,
) -> Classified:
    return Classified(f"e{i}", ts0 + i * 1000, service, root_cause, 0.97, "Error <NUM> connecting to <IP>.", text)


def test_burst_gives_one_incident_with_explanation() -> None:
    agg = BurstAggregator(window_s=60, min_count=5, cooldown_s=300)
    out = [agg.add(rec(i)) for i in range(40)]
    incidents = [o for o in out if o is not None]
    assert len({i["incident_id"] for i in incidents}) == 1
    inc = incidents[0]
    assert inc["fingerprint"] == "log_error:inference:dependency_unavailable"
    assert inc["type"] == "log_error"
    assert inc["root_cause"] == "dependency_unavailable"
    assert inc["target"] == "redis"
    assert inc["count"] == 5
    assert inc["first_seen"] < inc["last_seen"]
    text = inc["explanation"]
    assert "inference failed 5 times in 4 s with 'Connection refused' to redis at 127.0.0.1:6379" in text
    assert "Redis looks unavailable (dependency_unavailable)" in text
    assert "restart inference once Redis answers" in text
    assert inc["evidence"]["template_1"].startswith("5x ")


def test_a_persisting_burst_updates_its_incident_and_a_later_one_opens_another() -> None:
    agg = BurstAggregator(window_s=60, min_count=3, cooldown_s=10, update_interval_s=5)
    first = [o for i in range(30) if (o := agg.add(rec(i))) is not None]  # one record a second for 30 s
    assert len({o["incident_id"] for o in first}) == 1, "one problem, one incident"
    assert [o["count"] for o in first] == [3, 8, 13, 18, 23, 28]  # opened at 2 s, updated every 5 s
    assert [o["evidence"]["state"] for o in first] == ["open"] + ["persisting"] * 5
    assert all(o["first_seen"] == first[0]["first_seen"] for o in first)
    assert len({o["event_id"] for o in first}) == len(first)
    # 10 s without a record close it: the next burst is a new incident.
    again = [o for i in range(40, 45) if (o := agg.add(rec(i))) is not None]
    assert len(again) == 1 and again[0]["incident_id"] != first[0]["incident_id"]
    assert again[0]["count"] == 3 and again[0]["evidence"]["state"] == "open"


def test_benign_and_sparse_errors_give_none() -> None:
    agg = BurstAggregator(window_s=10, min_count=5, cooldown_s=0)
    assert all(agg.add(rec(i, "benign", "Application startup complete.")) is None for i in range(100))
    # one error every 5 s never reaches 5 in a 10 s window
    assert all(agg.add(rec(i * 5, "timeout", "TimeoutError: timed out")) is None for i in range(50))


def test_model_error_incident_type_and_unknown_switch() -> None:
    agg = BurstAggregator(window_s=60, min_count=2, cooldown_s=300, incident_on_unknown=False)
    line = "lightgbm.basic.LightGBMError: Unknown model format or submodel type in model file /m/model.txt"
    out = [agg.add(rec(i, "model_error", line)) for i in range(3)]
    inc = next(o for o in out if o is not None)
    assert inc["type"] == "model_error"
    assert inc["fingerprint"] == "model_error:inference:model_error"
    assert "roll back" in inc["explanation"]
    assert all(agg.add(rec(i, "unknown", "something odd")) is None for i in range(10))


def test_replay_gives_the_same_incident_ids() -> None:
    a = [o for i in range(5) if (o := BurstAggregator(min_count=5).add(rec(i))) is not None]
    agg1, agg2 = BurstAggregator(min_count=5), BurstAggregator(min_count=5)
    first = [o for i in range(5) if (o := agg1.add(rec(i))) is not None]
    second = [o for i in range(5) if (o := agg2.add(rec(i))) is not None]
    assert a == []
    assert first[0]["event_id"] == second[0]["event_id"]
    assert first[0]["incident_id"] == second[0]["incident_id"]


def test_a_single_model_failure_is_an_incident_when_its_cause_needs_one_line() -> None:
    agg = BurstAggregator(window_s=60, min_count=5, cooldown_s=300, min_count_by_cause={"model_error": 1})
    failed = agg.add(rec(0, root_cause="model_error", text="booster checksum mismatch: model.txt is corrupt"))
    assert failed is not None and failed["type"] == "model_error" and failed["count"] == 1
    # other causes still need min_count lines
    assert [agg.add(rec(i)) for i in range(1, 5)] == [None] * 4
    assert agg.add(rec(5)) is not None


@pytest.mark.parametrize(
    ("logger", "message"),
    [
        ("services.healer.alerts", f"ALERT inference: {REFUSED}"),
        (
            "services.healer.watch",
            "health watch: inference is down: /health ConnectError: [Errno 111] Connection refused",
        ),
    ],
)
def test_the_healers_own_alert_and_watch_lines_are_not_classified_again(logger: str, message: str) -> None:
    """They repeat incidents the healer already has: a crash of inference is not the healer's dependency down."""
    from services.common.bus import Event
    from services.logclassifier.handlers import LineResult, LogClassifier, LogRecordHandler
    from services.logclassifier.settings import LogClassifierSettings

    class MustNotClassify:
        def classify(self, *args: object) -> list[LineResult]:
            raise AssertionError("an echoed alert line reached the classifier")

    handler = LogRecordHandler(
        cast(LogClassifier, MustNotClassify()),  # a stand-in that fails the test if it is ever asked
        BurstAggregator(min_count=1),
        own_service="logclassifier",
        known_services=["healer"],
        echo_loggers=LogClassifierSettings().echo_loggers,
    )
    value = {
        "event_id": "e1",
        "ts": 1_700_000_000_000,
        "source": "healer",
        "service": "healer",
        "level": "WARNING",
        "logger": logger,
        "message": message,
        "exc_type": None,
        "traceback": None,
        "host": "h",
        "container": None,
    }
    event = Event("logs", 0, 0, "healer", value, b"", 1_700_000_000_000)
    assert handler.handle_batch([event] * 20) == []

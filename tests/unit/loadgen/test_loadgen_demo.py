"""Pure parts of the demo's plan: its lag reading, the fault table, a consistent fault set."""

from __future__ import annotations

import pytest

from loadgen.demo import DATA_FAULTS, STEPS, consumer_lag
from loadgen.faults.registry import FAULTS, create
from loadgen.scoring import EXPECTED
from loadgen.stack import Stack
from loadgen.traffic_process import Traffic

METRICS = """# HELP aig_consumer_lag Messages behind the partition end
aig_consumer_lag{partition="0",service="drift",topic="features"} 120.0
aig_consumer_lag{partition="1",service="drift",topic="features"} -1.0
aig_consumer_lag{partition="0",service="drift",topic="labels"} 30.0
aig_consumer_lag{partition="0",service="inference",topic="features"} 999.0
aig_messages_in_total{service="drift",topic="features"} 5.0
"""


def test_consumer_lag_sums_one_service_and_ignores_unknown_partitions() -> None:
    assert consumer_lag(METRICS, "drift") == 150
    assert consumer_lag(METRICS, "inference") == 999
    assert consumer_lag("", "drift") == 0


def test_every_step_has_an_expectation_and_every_data_fault_is_a_valid_loadgen_fault() -> None:
    assert [s.fault for s in STEPS] == list(EXPECTED)
    for key, (name, _, params) in DATA_FAULTS.items():
        assert name in FAULTS and key in EXPECTED
        create(name, 0.0, None, params)  # raises on a parameter the fault does not take
    # The data faults hit the feature the expectations table names.
    for key in ("null_burst", "unit_change", "feature_drift"):
        assert DATA_FAULTS[key][2]["feature"] == EXPECTED[key].on
    # Lasting changes come last: nothing after them runs on a changed world by accident.
    lasting = [i for i, s in enumerate(STEPS) if s.duration_s is None and s.fault in DATA_FAULTS]
    assert lasting == list(range(len(STEPS) - len(lasting), len(STEPS)))


def test_faults_that_disagree_on_a_parameter_are_refused_before_anything_starts() -> None:
    traffic = Traffic(Stack(name="unit"), rate=10.0, time_scale=720.0)
    traffic.persistent.append(DATA_FAULTS["feature_drift"])
    with pytest.raises(ValueError, match="disagree on parameter feature"):
        traffic.restart((DATA_FAULTS["null_burst"],))
    assert traffic.proc is None

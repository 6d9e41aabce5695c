"""The drift service's own Prometheus metrics (shared ones live in services.common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

BAD_INPUT = Counter(
    "aig_drift_bad_input_total", "Inputs the drift detector could not use, by reason", ["reason"]
)
BAD_VALUES = Counter(
    "aig_drift_bad_values_total", "Null, NaN, infinite or out-of-range feature values", ["feature", "reason"]
)
INCIDENTS = Counter("aig_drift_incidents_total", "Incidents raised, by type", ["type"])
SUPPRESSED = Counter(
    "aig_drift_suppressed_total", "Confirmed changes not raised again because of the cooldown", ["type"]
)
JOINED = Counter("aig_drift_joined_total", "Predictions joined with their label")
RESETS = Counter("aig_drift_resets_total", "Detector resets because a new model went live")
CHECKPOINTS = Counter("aig_drift_checkpoints_total", "Detector state checkpoints, by result", ["result"])

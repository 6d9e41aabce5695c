"""The drift service's own Prometheus metrics (shared ones live in services.common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

BAD_INPUT = Counter("aig_drift_bad_input_total", "Inputs the drift detector could not use, by reason", ["reason"])
BAD_VALUES = Counter(
    "aig_drift_bad_values_total", "Null, NaN, infinite or out-of-range feature values", ["feature", "reason"]
)
INCIDENTS = Counter("aig_drift_incidents_total", "Incidents raised, by type", ["type"])
SUPPRESSED = Counter(
    "aig_drift_suppressed_total",
    "Signals of an open incident not sent as an update yet (at most one per update interval)",
    ["type"],
)
UPDATES = Counter("aig_drift_incident_updates_total", "Updates of an open incident (a persisting problem)", ["type"])
LABELS_WAITING = Counter("aig_drift_labels_waiting_total", "Labels that came before their prediction and wait for it")
LABELS_WAITED = Counter("aig_drift_labels_joined_after_wait_total", "Waiting labels joined when their prediction came")
JOINED = Counter("aig_drift_joined_total", "Predictions joined with their label")
RESETS = Counter("aig_drift_resets_total", "Detector resets because a new model went live")
CHECKPOINTS = Counter("aig_drift_checkpoints_total", "Detector state checkpoints, by result", ["result"])

"""What services agree on about incidents: which ones are bad input, and the root cause of their echo.

Bad input is what the data contract (ingest dead letters, reported as log errors), the skew check or
the data-quality check reports. A drift that follows it is most likely its echo: root cause
``upstream_data``, which the healer hands to a human instead of retraining on the fault.
"""

from __future__ import annotations

BAD_INPUT_TYPES = frozenset({"skew", "data_quality"})
BAD_INPUT_LOG_CAUSES = frozenset({"schema_mismatch", "data_quality"})
MODEL_SIDE_TYPES = frozenset({"data_drift", "concept_drift"})
UPSTREAM_DATA = "upstream_data"


def is_bad_input(incident_type: str, root_cause: str | None) -> bool:
    return incident_type in BAD_INPUT_TYPES or (incident_type == "log_error" and root_cause in BAD_INPUT_LOG_CAUSES)

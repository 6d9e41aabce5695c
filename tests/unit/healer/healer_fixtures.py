"""Records for the healer unit tests."""

from __future__ import annotations

from services.healer.handlers import validate_incident

# A data drift of salary_k, checked as the healer checks every incident it reads.
SALARY_DRIFT = validate_incident(
    {
        "event_id": "e",
        "incident_id": "i-1",
        "fingerprint": "data_drift:salary_k",
        "type": "data_drift",
        "service": "inference",
        "summary": "salary_k drifted",
        "first_seen": 1_000,
    }
)

"""The incident vocabulary every service speaks: types, root causes, the fingerprint rule, the record.

Three services raise incidents (drift, the log-classifier and the healer's health watch) and the
healer acts on them; they agree here on what an incident can be and how one is written.

Bad input is what the data contract (ingest dead letters, reported as log errors), the skew check or
the data-quality check reports. A drift that follows it is most likely its echo: root cause
``upstream_data``, which the healer hands to a human instead of retraining on the fault.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from services.common.events import header


class IncidentType(StrEnum):
    DATA_DRIFT = "data_drift"
    CONCEPT_DRIFT = "concept_drift"
    SKEW = "skew"
    DATA_QUALITY = "data_quality"
    LOG_ERROR = "log_error"
    SERVICE_DOWN = "service_down"
    SERVICE_HUNG = "service_hung"
    MODEL_ERROR = "model_error"


class RootCause(StrEnum):
    OUT_OF_MEMORY = "out_of_memory"
    DISK_FULL = "disk_full"
    DEPENDENCY_UNAVAILABLE = "dependency_unavailable"
    TIMEOUT = "timeout"
    SCHEMA_MISMATCH = "schema_mismatch"
    DATA_QUALITY = "data_quality"
    MODEL_ERROR = "model_error"
    PERMISSION_DENIED = "permission_denied"
    CONFIG_ERROR = "config_error"
    BENIGN = "benign"
    UNKNOWN = "unknown"
    UPSTREAM_DATA = "upstream_data"  # drift: the model degraded while its input data is known bad


SEVERITIES = ("info", "warning", "error", "critical")

INCIDENT_TYPES = frozenset(t.value for t in IncidentType)
ROOT_CAUSES = frozenset(c.value for c in RootCause)
# What the log-classifier can name from a log line (everything but "unknown" and the drift-only cause).
LOG_ROOT_CAUSES: tuple[str, ...] = tuple(
    c.value for c in RootCause if c not in (RootCause.UNKNOWN, RootCause.UPSTREAM_DATA)
)

BAD_INPUT_TYPES = frozenset({IncidentType.SKEW.value, IncidentType.DATA_QUALITY.value})
BAD_INPUT_LOG_CAUSES = frozenset({RootCause.SCHEMA_MISMATCH.value, RootCause.DATA_QUALITY.value})
MODEL_SIDE_TYPES = frozenset({IncidentType.DATA_DRIFT.value, IncidentType.CONCEPT_DRIFT.value})
UPSTREAM_DATA = RootCause.UPSTREAM_DATA.value


def is_bad_input(incident_type: str, root_cause: str | None) -> bool:
    return incident_type in BAD_INPUT_TYPES or (incident_type == "log_error" and root_cause in BAD_INPUT_LOG_CAUSES)


def fingerprint(incident_type: str, *subject: str) -> str:
    """The one rule: the type, then what tells two problems of that type apart, joined by ':'.

    ``data_drift:salary_k`` (a feature), ``service_down:inference`` (a service),
    ``log_error:inference:dependency_unavailable`` (a service and the cause its logs name). Copies of
    one problem share it; the healer runs one episode per fingerprint at a time.
    """
    if incident_type not in INCIDENT_TYPES:
        raise ValueError(f"unknown incident type {incident_type!r}")
    parts = [p for p in subject if p]
    if not parts:
        raise ValueError(f"a {incident_type} fingerprint needs a subject")
    return ":".join((incident_type, *parts))


def incident_record(
    source: str,
    *,
    incident_id: str,
    fingerprint: str,
    type: str,
    service: str,
    summary: str,
    explanation: str,
    count: int,
    first_seen: int,
    last_seen: int,
    evidence: dict[str, str],
    severity: str = "warning",
    root_cause: str | None = None,
    target: str | None = None,
    event_id: str | None = None,
    ts: int | None = None,
) -> dict[str, Any]:
    """An Incident record (schemas/Incident.avsc); refuses a type, root cause or severity outside the vocabulary."""
    if type not in INCIDENT_TYPES:
        raise ValueError(f"unknown incident type {type!r}")
    if root_cause is not None and root_cause not in ROOT_CAUSES:
        raise ValueError(f"unknown root cause {root_cause!r}")
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    return {
        **header(source, event_id=event_id, ts=ts),
        "incident_id": incident_id,
        "fingerprint": fingerprint,
        "type": type,
        "root_cause": root_cause,
        "service": service,
        "target": target,
        "severity": severity,
        "summary": summary,
        "explanation": explanation,
        "count": count,
        "first_seen": first_seen,
        "last_seen": last_seen,
        "evidence": evidence,
    }

"""Prometheus metrics of the healer (the dashboards in infra/grafana read these names)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INCIDENTS = Counter("aig_healer_incidents_total", "Incidents received, by decision", ["decision"])
RECOVERY = Histogram(
    "aig_healer_time_to_recover_seconds",
    "first_seen -> verified fix",
    ["type"],
    buckets=(1, 2, 5, 10, 15, 30, 60, 120, 300, 900),
)
DETECTION = Histogram(
    "aig_healer_time_to_detect_seconds",
    "first_seen -> received by the healer",
    ["type"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
AUDIT_FAILURES = Counter("aig_healer_audit_failures_total", "Audit records the database refused", ["op"])
AUDIT_DEFERRED = Counter(
    "aig_healer_audit_deferred_total", "Audit records left to the audit sink (database away or behind)", ["op"]
)
DECISIONS = Counter("aig_healer_decisions_total", "HealingAction events by action and status", ["action", "status"])

"""Prometheus metrics of the log-classifier (prefix aig_logclassifier_)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECORDS = Counter("aig_logclassifier_records_total", "Log records classified, by root cause", ["root_cause"])
BAD_INPUT = Counter(
    "aig_logclassifier_bad_input_total",
    "Log records with a problem (empty, binary, oversized, unknown_service, own_record)",
    ["reason"],
)
INCIDENTS = Counter("aig_logclassifier_incidents_total", "Incidents raised, by root cause", ["root_cause"])
CACHE = Counter("aig_logclassifier_embedding_cache_total", "Classification cache lookups", ["result"])
TEMPLATES = Gauge("aig_logclassifier_templates", "Templates currently mined by Drain3")

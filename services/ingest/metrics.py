"""Ingest's data-quality metrics (per field), on top of the shared bus metrics."""

from __future__ import annotations

from prometheus_client import Counter

NULLS = Counter("aig_ingest_null_total", "Null values seen, per field", ["field"])
OUT_OF_RANGE = Counter(
    "aig_ingest_out_of_range_total", "Values outside the expected (soft) range, accepted, per field", ["field"]
)
REJECTED = Counter("aig_ingest_rejected_total", "Contract violations, per field and reason", ["field", "reason"])
ACCEPTED = Counter("aig_ingest_accepted_total", "Events that passed the contract, per path", ["path"])
REJECTED_EVENTS = Counter("aig_ingest_rejected_events_total", "Events that broke the contract, per path", ["path"])

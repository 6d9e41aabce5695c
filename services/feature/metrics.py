"""Feature service metrics (prefix aig_feature_)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

VECTORS = Counter("aig_feature_vectors_total", "FeatureVectors emitted")
DEAD_LETTERS = Counter("aig_feature_dead_letters_total", "Inputs dead-lettered by the stream workers", ["stage"])
ONLINE_WRITES = Counter("aig_feature_online_writes_total", "Online store (Redis) updates", ["outcome"])
OFFLINE_ROWS = Counter("aig_feature_offline_rows_total", "Rows written to PostgreSQL (new or already there)", ["table"])
MEMBER_VIEWS = Gauge("aig_feature_last_member_views", "member_views of the latest vector")

"""The feature columns every consumer agrees on (the trainer imports this module).

A FeatureVector carries exactly these keys; numeric values may be null (missing).
"""

from __future__ import annotations

# Raw numerics of the interaction, then derived ones, then windowed aggregates.
RAW_NUMERIC = ("years_experience", "salary_k", "skill_match", "distance_km", "dwell_s")
NUMERIC_FEATURES: tuple[str, ...] = (
    *RAW_NUMERIC,
    "remote",  # 1.0 / 0.0
    "hour_sin",  # hour of day on the unit circle: 23 h is next to 0 h
    "hour_cos",
    "member_views_1h",  # the member's job views in the last hour, this one included
    "job_views_10m",  # the job's views in the last 10 minutes, this one included
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("region", "device", "industry", "seniority")

# Online store layout (Redis hashes, field -> text): which features live under which entity.
MEMBER_FEATURES = ("years_experience", "member_views_1h", "region", "device")
JOB_FEATURES = ("salary_k", "remote", "job_views_10m", "industry", "seniority")
PAIR_FEATURES = ("skill_match", "distance_km", "dwell_s", "hour_sin", "hour_cos")

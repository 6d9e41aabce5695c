"""The feature columns and the online-store layout that feature, trainer and inference agree on.

A FeatureVector carries exactly these keys; numeric values may be null (missing). The feature
service writes the online store (Redis hashes) and inference reads it to complete a request that
brings only ids: both go through :func:`online_keys`.
"""

from __future__ import annotations

# Raw numerics of the interaction, then derived ones, then windowed aggregates.
RAW_NUMERIC = ("years_experience", "salary_k", "skill_match", "distance_km", "dwell_s")
NUMERIC_FEATURES: tuple[str, ...] = (
    *RAW_NUMERIC,
    "remote",  # 1.0 / 0.0
    "hour_sin",  # hour of day on the unit circle: 23 h is next to 0 h
    "hour_cos",
    "member_views",  # the member's job views in the member window (AIG_MEMBER_WINDOW_S, 1 h), this one included
    "job_views",  # the job's views in the job window (AIG_JOB_WINDOW_S, 10 min), this one included
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("region", "device", "industry", "seniority")

# Online store layout (Redis hashes, field -> text): which features live under which entity.
MEMBER_FEATURES = ("years_experience", "member_views", "region", "device")
JOB_FEATURES = ("salary_k", "remote", "job_views", "industry", "seniority")
PAIR_FEATURES = ("skill_match", "distance_km", "dwell_s", "hour_sin", "hour_cos")


def online_keys(prefix: str, member_id: str, job_id: str) -> dict[str, tuple[str, ...]]:
    """The online store's hashes for one (member, job) pair, each with the features it holds."""
    return {
        f"{prefix}member:{member_id}": MEMBER_FEATURES,
        f"{prefix}job:{job_id}": JOB_FEATURES,
        f"{prefix}pair:{member_id}:{job_id}": PAIR_FEATURES,
    }

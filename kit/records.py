"""Sample events that pass the contract, for tests and benchmarks that need traffic but not loadgen's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.common.events import header

if TYPE_CHECKING:  # a type only: the benchmarks that send interactions need no LightGBM
    from services.common.model.bundle import LabelledRow


def interaction(i: int, source: str = "test") -> dict[str, Any]:
    """A valid Interaction record, distinct per ``i``."""
    return {
        **header(source),
        "member_id": f"m{i % 997}",
        "job_id": f"j{i % 113}",
        "region": "eu",
        "device": "web",
        "industry": "software",
        "seniority": "mid",
        "years_experience": float(i % 30),
        "salary_k": 50.0 + i % 100,
        "skill_match": (i % 100) / 100,
        "distance_km": float(i % 50),
        "dwell_s": 12.5,
        "remote": bool(i % 2),
        "hour_of_day": i % 24,
    }


def feature_vector(row: LabelledRow, member_id: str, job_id: str) -> dict[str, Any]:
    """The fields of a FeatureVector that carry ``row``'s features for one member and job (what the feature
    service writes the online store from)."""
    return {
        "member_id": member_id,
        "job_id": job_id,
        "interaction_ts": 1,
        "numeric": dict(row.numeric),
        "categorical": dict(row.categorical),
    }

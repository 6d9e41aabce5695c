"""Sample events that pass the contract, for tests and benchmarks that need traffic but not loadgen's."""

from __future__ import annotations

from typing import Any

from services.common.events import header


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

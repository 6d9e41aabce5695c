"""Synthetic labelled job-apply rows with a known signal, for tests, benchmarks and offline demos.

The rows carry the feature service's columns (services/common/model/features.py). The apply probability
is a logistic function of skill match, salary, distance, seniority fit and region; ``flip``
inverts the skill effect (a concept drift the gate must notice).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from services.common.model.bundle import LabelledRow

REGIONS = ("na", "latam", "eu", "mea", "apac")
DEVICES = ("web", "ios", "android")
SENIORITY = ("junior", "mid", "senior", "lead")
INDUSTRIES = ("software", "finance", "health", "retail", "energy", "media")


def make_rows(
    n: int,
    seed: int = 0,
    start: datetime | None = None,
    step: timedelta = timedelta(seconds=1),
    flip: bool = False,
    id_prefix: str = "i",
) -> list[LabelledRow]:
    rng = random.Random(seed)
    t0 = start or datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        skill = rng.random()
        years = rng.uniform(0, 25)
        salary = rng.lognormvariate(math.log(90), 0.3)
        distance = rng.expovariate(1 / 30)
        dwell = None if rng.random() < 0.1 else rng.expovariate(1 / 20)
        hour = rng.randrange(24)
        region = rng.choice(REGIONS)
        seniority = rng.choice(SENIORITY)
        skill_effect = (-4.0 if flip else 4.0) * (skill - 0.5)
        logit = (
            skill_effect
            + 1.5 * (salary / 90 - 1.0)
            - 0.02 * distance
            + (0.8 if seniority == "mid" else -0.3)
            + (0.6 if region == "eu" else 0.0)
            + (0.02 * dwell if dwell is not None else 0.0)
            - 0.5
        )
        applied = rng.random() < 1 / (1 + math.exp(-logit))
        rows.append(
            LabelledRow(
                interaction_id=f"{id_prefix}{i}",
                ts=t0 + step * i,
                numeric={
                    "years_experience": years,
                    "salary_k": salary,
                    "skill_match": skill,
                    "distance_km": distance,
                    "dwell_s": dwell,
                    "remote": float(rng.random() < 0.3),
                    "hour_sin": math.sin(2 * math.pi * hour / 24),
                    "hour_cos": math.cos(2 * math.pi * hour / 24),
                    "member_views": float(rng.randint(1, 12)),
                    "job_views": float(rng.randint(1, 40)),
                },
                categorical={
                    "region": region,
                    "device": rng.choice(DEVICES),
                    "industry": rng.choice(INDUSTRIES),
                    "seniority": seniority,
                },
                label=applied,
            )
        )
    return rows

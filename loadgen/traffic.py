"""The pure traffic model: members, jobs, interactions and their hidden real outcome.

Nothing here touches Kafka or the clock: every value derives from the seed and the event counter,
so the same seed replays the same traffic (event ids included) and tests can check it offline.
"""

from __future__ import annotations

import bisect
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from services.common.model.features import RAW_NUMERIC

if TYPE_CHECKING:
    from loadgen.faults.base import Fault

SOURCE = "loadgen"
REGIONS: dict[str, int] = {"na": -5, "latam": -3, "eu": 1, "mea": 3, "apac": 8}  # region -> UTC offset (hours)
REGION_SHARE: dict[str, float] = {"na": 0.3, "latam": 0.1, "eu": 0.3, "mea": 0.08, "apac": 0.22}
DEVICES = ("web", "ios", "android")
DEVICE_SHARE = (0.5, 0.25, 0.25)
INDUSTRIES = ("software", "finance", "healthcare", "retail", "manufacturing", "education", "energy", "media")
SENIORITIES = ("intern", "junior", "mid", "senior", "lead", "director")
REQUIRED_YEARS = {"intern": 0.0, "junior": 1.5, "mid": 4.0, "senior": 8.0, "lead": 12.0, "director": 16.0}
BASE_SALARY_K = {"intern": 30.0, "junior": 55.0, "mid": 80.0, "senior": 110.0, "lead": 140.0, "director": 180.0}
INDUSTRY_PAY = {
    "software": 1.25,
    "finance": 1.3,
    "healthcare": 1.05,
    "retail": 0.8,
    "manufacturing": 0.95,
    "education": 0.8,
    "energy": 1.1,
    "media": 0.9,
}
N_SKILLS = 16
# Typical spread of each numeric feature, the unit of covariate-shift faults ("+2 std").
FEATURE_STD = {"years_experience": 5.0, "salary_k": 40.0, "skill_match": 0.2, "distance_km": 150.0, "dwell_s": 40.0}
CROSS_REGION_SHARE = 0.15
NUMERIC_FIELDS = RAW_NUMERIC  # the interaction's numeric fields, as the feature service reads them
_ID_NAMESPACE = uuid.UUID("6f1c9d7e-3b7a-4c55-9a43-2f0d8f6e1a10")


def activity(local_hour: float) -> float:
    """Relative browsing activity by local hour: low at night, peaks mid-morning and evening."""
    morning = math.exp(-((local_hour - 10.0) ** 2) / 8.0)
    evening = 0.8 * math.exp(-((local_hour - 20.0) ** 2) / 6.0)
    return 0.08 + morning + evening


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    region: str
    device: str
    years_experience: float
    skills: int  # bitmask over N_SKILLS
    x_km: float
    y_km: float


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    region: str
    industry: str
    seniority: str
    salary_k: float
    remote: bool
    skills: int
    x_km: float
    y_km: float


@dataclass(frozen=True)
class TruthCoefficients:
    """The hidden apply model (logistic). Concept-drift faults return a changed copy."""

    intercept: float = -1.1
    skill: float = 3.5  # per unit of (skill_match - 0.5)
    salary: float = 1.6  # per unit of (salary / expected salary - 1), clipped to +-1
    distance: float = -0.004  # per km up to 1000 km, on-site jobs only
    seniority_fit: float = -0.22  # per year away from the job's required years
    remote: float = 0.6
    evening: float = 0.45  # times cos(2 pi (hour - 20) / 24)

    def flipped(self) -> TruthCoefficients:
        """The same world with reversed preferences (concept drift: features stay, outcomes change)."""
        return replace(self, skill=-self.skill, salary=-self.salary, remote=-self.remote, distance=-self.distance)


def expected_salary_k(years: float) -> float:
    """What a member with ``years`` of experience expects to earn (thousands)."""
    return 40.0 + 9.0 * min(years, 20.0)


def apply_probability(event: dict[str, Any], coef: TruthCoefficients) -> float:
    """The real probability that a member applies, given the true (not the reported) features."""
    years = event["years_experience"] or 0.0
    skill = event["skill_match"] if event["skill_match"] is not None else 0.5
    salary = event["salary_k"] if event["salary_k"] is not None else expected_salary_k(years)
    distance = event["distance_km"] or 0.0
    required = REQUIRED_YEARS.get(event["seniority"], 4.0)
    salary_term = max(-1.0, min(1.0, salary / expected_salary_k(years) - 1.0))
    z = (
        coef.intercept
        + coef.skill * (skill - 0.5)
        + coef.salary * salary_term
        + (0.0 if event["remote"] else coef.distance * min(distance, 1000.0))
        + coef.seniority_fit * abs(years - required)
        + (coef.remote if event["remote"] else 0.0)
        + coef.evening * math.cos(2 * math.pi * (event["hour_of_day"] - 20) / 24)
    )
    return 1.0 / (1.0 + math.exp(-z))


@dataclass
class Emission:
    """One generated interaction: what is sent, and its real outcome (sent later as a Label)."""

    counter: int
    event: dict[str, Any]
    applied: bool
    p_apply: float
    label_delay_s: float
    raw: bytes | None = None  # set by a schema-break fault: sent instead of the Avro encoding

    def label(self, ts_ms: int) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid5(_ID_NAMESPACE, f"label:{self.event['event_id']}")),
            "ts": ts_ms,
            "source": SOURCE,
            "interaction_id": self.event["event_id"],
            "member_id": self.event["member_id"],
            "applied": self.applied,
        }


@dataclass
class TrafficConfig:
    seed: int = 7
    members: int = 5000
    jobs: int = 2000
    zipf_s: float = 1.0  # job popularity skew
    time_scale: float = 1.0  # simulated seconds per second of traffic (720 = one day in two minutes)
    start_hour_utc: float = 14.0
    # Wall-clock epoch ms at which the simulated clock reads ``start_hour_utc``. Set, the hour follows
    # each event's timestamp, so several loadgen processes (one after another) share one continuous day.
    clock_anchor_ms: int | None = None
    label_delay_s: tuple[float, float] = (2.0, 5.0)
    run_id: str = ""  # part of event ids: a new run id gives new ids for the same traffic
    coefficients: TruthCoefficients = field(default_factory=TruthCoefficients)


class TrafficGenerator:
    """Deterministic stream of interactions for a seed; ``next(counter, t_s, ts_ms)`` must be called in order."""

    def __init__(self, config: TrafficConfig | None = None, faults: Sequence[Fault] = ()) -> None:
        self.config = cfg = config or TrafficConfig()
        if cfg.members < 1 or cfg.jobs < 1:
            raise ValueError("members and jobs must be at least 1")
        lo, hi = cfg.label_delay_s
        if lo < 0 or hi < lo:
            raise ValueError(f"label delay range must satisfy 0 <= min <= max, got {lo}..{hi}")
        self.faults = list(faults)
        world = random.Random(f"world:{cfg.seed}")
        self.members = [self._make_member(world, i) for i in range(cfg.members)]
        self.jobs = [self._make_job(world, i) for i in range(cfg.jobs)]
        self.by_region: dict[str, list[Member]] = {r: [] for r in REGIONS}
        for m in self.members:
            self.by_region[m.region].append(m)
        for r in list(self.by_region):
            if not self.by_region[r]:
                del self.by_region[r]
        # Zipf popularity over a seeded shuffle of the jobs (globally and per region), sampled by bisect.
        self._popular_all = _zipf_table(list(self.jobs), cfg.zipf_s, world)
        self._popular_in: dict[str, tuple[list[Job], list[float]]] = {}
        for r in REGIONS:
            local = [j for j in self.jobs if j.region == r]
            if local:
                self._popular_in[r] = _zipf_table(local, cfg.zipf_s, world)
        self._rng = random.Random(f"events:{cfg.seed}")
        self._label_rng = random.Random(f"labels:{cfg.seed}")
        self._fault_rng = random.Random(f"faults:{cfg.seed}")
        self._last_counter = -1

    # ------------------------------------------------------------------ world
    @staticmethod
    def _make_member(rng: random.Random, i: int) -> Member:
        region = rng.choices(list(REGION_SHARE), weights=list(REGION_SHARE.values()))[0]
        cx, cy = _region_centre(region)
        return Member(
            member_id=f"m{i}",
            region=region,
            device=rng.choices(DEVICES, weights=DEVICE_SHARE)[0],
            years_experience=round(min(40.0, rng.gammavariate(2.0, 3.5)), 1),
            skills=rng.getrandbits(N_SKILLS),
            x_km=cx + rng.gauss(0, 120),
            y_km=cy + rng.gauss(0, 120),
        )

    @staticmethod
    def _make_job(rng: random.Random, i: int) -> Job:
        region = rng.choices(list(REGION_SHARE), weights=list(REGION_SHARE.values()))[0]
        seniority = rng.choices(SENIORITIES, weights=(0.05, 0.2, 0.35, 0.25, 0.1, 0.05))[0]
        industry = rng.choice(INDUSTRIES)
        salary = BASE_SALARY_K[seniority] * INDUSTRY_PAY[industry] * rng.lognormvariate(0, 0.15)
        cx, cy = _region_centre(region)
        n_required = rng.randint(3, 7)
        skills = 0
        for s in rng.sample(range(N_SKILLS), n_required):
            skills |= 1 << s
        return Job(
            job_id=f"j{i}",
            region=region,
            industry=industry,
            seniority=seniority,
            salary_k=round(salary, 1),
            remote=rng.random() < 0.25,
            skills=skills,
            x_km=cx + rng.gauss(0, 150),
            y_km=cy + rng.gauss(0, 150),
        )

    # ------------------------------------------------------------------ time
    def utc_hour(self, t_s: float) -> float:
        """Simulated UTC hour after ``t_s`` seconds of traffic."""
        return (self.config.start_hour_utc + t_s * self.config.time_scale / 3600.0) % 24.0

    def hour_at(self, t_s: float, ts_ms: int) -> float:
        """Simulated UTC hour of an event: from its timestamp when the clock is anchored, else from ``t_s``."""
        cfg = self.config
        if cfg.clock_anchor_ms is None:
            return self.utc_hour(t_s)
        return simulated_hour(ts_ms, cfg.clock_anchor_ms, cfg.start_hour_utc, cfg.time_scale)

    def region_weights(self, t_s: float, hour: float | None = None) -> dict[str, float]:
        """Share of traffic per region now: population times local activity (daily seasonality)."""
        hour = self.utc_hour(t_s) if hour is None else hour
        return {r: REGION_SHARE[r] * activity((hour + REGIONS[r]) % 24) for r in self.by_region}

    # ------------------------------------------------------------------ events
    def pick_job(self, region: str) -> Job:
        """Mostly a popular job of the member's region, sometimes a popular job anywhere."""
        jobs, cum = self._popular_in.get(region, self._popular_all)
        if self._rng.random() < CROSS_REGION_SHARE:
            jobs, cum = self._popular_all
        return jobs[bisect.bisect_left(cum, self._rng.random() * cum[-1])]

    def event_id(self, counter: int) -> str:
        return str(uuid.uuid5(_ID_NAMESPACE, f"{self.config.seed}:{self.config.run_id}:{counter}"))

    def next(self, counter: int, t_s: float, ts_ms: int) -> Emission:
        """The interaction number ``counter``, made ``t_s`` seconds into the run, stamped ``ts_ms``."""
        if counter != self._last_counter + 1:
            raise ValueError(f"events must be generated in order: expected {self._last_counter + 1}, got {counter}")
        self._last_counter = counter
        rng = self._rng
        hour = self.hour_at(t_s, ts_ms)
        weights = self.region_weights(t_s, hour)
        region = rng.choices(list(weights), weights=list(weights.values()))[0]
        pool = self.by_region[region]
        # Mild skew over members too: some members browse a lot (makes per-member counts meaningful).
        member = pool[min(len(pool) - 1, int(len(pool) * rng.random() ** 1.6))]
        job = self.pick_job(member.region)
        required = bin(job.skills).count("1")
        overlap = bin(job.skills & member.skills).count("1")
        skill_match = min(1.0, max(0.0, overlap / required + rng.gauss(0, 0.05)))
        distance = math.hypot(member.x_km - job.x_km, member.y_km - job.y_km)
        local_hour = int((hour + REGIONS[member.region]) % 24)
        event: dict[str, Any] = {
            "event_id": self.event_id(counter),
            "ts": ts_ms,
            "source": SOURCE,
            "member_id": member.member_id,
            "job_id": job.job_id,
            "region": member.region,
            "device": member.device,
            "industry": job.industry,
            "seniority": job.seniority,
            "years_experience": member.years_experience,
            "salary_k": job.salary_k,
            "skill_match": round(skill_match, 4),
            "distance_km": round(distance, 1),
            "dwell_s": round(rng.lognormvariate(2.5 + skill_match, 0.6), 1),
            "remote": job.remote,
            "hour_of_day": local_hour,
        }
        active = [f for f in self.faults if f.active(t_s)]
        frng = self._fault_rng
        coef = self.config.coefficients
        for f in active:
            f.world(event, t_s, frng)  # the world itself changes: labels follow the shifted values
            coef = f.truth(coef, t_s)
        p = apply_probability(event, coef)
        applied = self._label_rng.random() < p
        lo, hi = self.config.label_delay_s
        delay = lo + (hi - lo) * self._label_rng.random()
        raw = None
        for f in active:
            f.report(event, t_s, frng)  # only what the pipeline sees changes (bugs, outages)
            raw = f.wire(event, t_s, frng) or raw
        return Emission(counter, event, applied, p, delay, raw)


def simulated_hour(ts_ms: int, anchor_ms: int, start_hour: float, time_scale: float) -> float:
    """The simulated UTC hour at wall time ``ts_ms`` of a clock reading ``start_hour`` at ``anchor_ms``."""
    return (start_hour + (ts_ms - anchor_ms) / 1000.0 * time_scale / 3600.0) % 24.0


def aligned_start_hour(anchor_ms: int, time_scale: float) -> float:
    """The start hour that makes simulated midnight fall on whole multiples of the period since the epoch.

    With it the simulated hour is a function of the wall clock alone (``ts mod period``), the same
    phase any consumer gets from an event timestamp and the period ``86400 / time_scale``.
    """
    if time_scale <= 0:
        return 0.0
    period_ms = 86_400_000.0 / time_scale
    return (anchor_ms % period_ms) / period_ms * 24.0


def _zipf_table(jobs: list[Job], s: float, rng: random.Random) -> tuple[list[Job], list[float]]:
    rng.shuffle(jobs)
    cum, total = [], 0.0
    for rank in range(1, len(jobs) + 1):
        total += 1.0 / rank**s
        cum.append(total)
    return jobs, cum


def _region_centre(region: str) -> tuple[float, float]:
    index = list(REGIONS).index(region)
    return 4000.0 * index, 1000.0 * (index % 2)


class TokenBucket:
    """Rate limiter: ``rate`` tokens per second, at most ``burst`` saved up; the caller passes the clock."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = 0.0
        self.last = now

    def take(self, now: float, max_n: int) -> int:
        """Whole tokens available now (at most ``max_n``), removed from the bucket."""
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        n = min(max_n, int(self.tokens))
        self.tokens -= n
        return n

    def wait_s(self) -> float:
        """Seconds until the next whole token."""
        return max(0.0, (1.0 - self.tokens) / self.rate)

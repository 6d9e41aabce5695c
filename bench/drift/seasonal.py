"""The drift monitor on seasonal traffic: false incidents in calm, and the delay to catch real faults.

    .venv/bin/python -m bench.drift.seasonal [--days 5] [--seeds 3] [--time-scale 720] [--rate 150]

Replays what ``loadgen run --time-scale 720`` sends (one simulated day in two minutes at 150
interactions/s, region mix and hours moving with the clock) through the feature, model and inference
logic in-process (``kit.replay``), trains a first model on more than one simulated day, then
feeds the drift monitor ``--days`` calm days and counts every incident (each one is false). After the
calm, each fault of ``SCENARIOS`` is played on a fresh copy of the same world and must be detected
with the right type; the delay is printed in interactions and in seconds of traffic. Exit code 0 only
when the calm is silent and every fault is caught.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from kit.replay import Pipeline
from loadgen.faults.registry import create as create_fault
from services.drift.config import Thresholds, load_thresholds
from services.drift.handlers import DriftMonitor
from services.drift.join import MemoryPendingStore

DAY_S = 86_400.0


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: str
    params: dict[str, str]
    expect: str  # incident type
    target: str | None  # feature, or None for the model
    duration_days: float = 1.0


SCENARIOS = (
    Scenario(
        "distance_km +1 std", "covariate_shift", {"feature": "distance_km", "std": "1"}, "data_drift", "distance_km"
    ),
    Scenario("salary_k -1 std", "covariate_shift", {"feature": "salary_k", "std": "-1"}, "data_drift", "salary_k"),
    Scenario(
        "years_experience in months",
        "unit_change",
        {"feature": "years_experience", "factor": "12"},
        "skew",
        "years_experience",
    ),
    Scenario("salary_k x1000", "unit_change", {"feature": "salary_k", "factor": "1000"}, "skew", "salary_k"),
    Scenario("skill_match nulls", "null_burst", {"feature": "skill_match"}, "data_quality", "skill_match"),
    Scenario("concept drift", "concept_drift", {}, "concept_drift", None),
)


@dataclass
class World:
    pipe: Pipeline
    monitor: DriftMonitor
    rate: float
    time_scale: float

    @property
    def day_events(self) -> int:
        return int(self.rate * DAY_S / self.time_scale)

    def feed(self, n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for batch in self.pipe.batches(n, size=500):
            for topic, events in (
                ("features", batch.features),
                ("predictions", batch.predictions),
                ("labels", batch.labels),
            ):
                for ev in events:
                    out += self.monitor.handle(topic, ev)
        return out


def thresholds(period_s: float) -> Thresholds:
    th = load_thresholds()
    return th.model_copy(update={"season": th.season.model_copy(update={"period_s": period_s})})


def make_world(seed: int, rate: float, time_scale: float, train_days: float, faults: list[Any]) -> World:
    dt_ms = 1000.0 / rate
    window = (20_000, 2_000)  # the demo's 20 s feature windows
    pipe = Pipeline(
        seed=seed, faults=faults, dt_ms=dt_ms, time_scale=time_scale, member_window_ms=window, job_window_ms=window
    )
    period_s = DAY_S / time_scale
    world = World(pipe, DriftMonitor(thresholds(period_s), MemoryPendingStore()), rate, time_scale)
    pipe.skip(int(rate * 30))  # the windows fill up
    event = pipe.model(rows=int(world.day_events * train_days), rounds=60)
    world.monitor.handle("model.events", event)
    return world


def calm(seed: int, days: float, args: argparse.Namespace) -> Counter[str]:
    world = make_world(seed, args.rate, args.time_scale, args.train_days, [])
    incidents = world.feed(int(world.day_events * days))
    for inc in incidents:
        print(f"  seed {seed} FALSE {inc['type']}:{inc.get('target')}: {inc['summary']}")
    return Counter(f"{i['type']}:{i.get('target')}" for i in incidents)


def play(seed: int, sc: Scenario, args: argparse.Namespace) -> tuple[bool, int | None, list[str]]:
    """(caught with the right type and target, delay in interactions, every incident of the fault window)."""
    rate, scale = args.rate, args.time_scale
    day_events = int(rate * DAY_S / scale)
    warm = int(day_events * args.learn_days)
    # The fault starts after the model and the detectors' learning: its offset is in traffic seconds.
    probe = make_world(seed, rate, scale, args.train_days, [])
    start_index = probe.pipe.counter + warm
    fault = create_fault(sc.fault, start_index / rate, None, sc.params or None)  # traffic seconds
    world = make_world(seed, rate, scale, args.train_days, [fault])
    early = world.feed(warm)
    seen: list[str] = [f"EARLY {i['type']}:{i.get('target')}" for i in early]
    found: int | None = None
    right = False
    step = 100
    done = 0
    first: dict[str, Any] | None = None
    while done < day_events * sc.duration_days:
        for inc in world.feed(step):
            seen.append(f"{i_type(inc)} after {done} ev")
            first = first or inc
            if found is None and inc["type"] == sc.expect and (sc.target is None or inc.get("target") == sc.target):
                found = done
        done += step
        if found is not None and done > found + 2000:
            break
    # Right: the fault's first incident has the expected type (the healer acts on the first one).
    right = first is not None and first["type"] == sc.expect and not early
    return right, found, seen


def i_type(inc: dict[str, Any]) -> str:
    return f"{inc['type']}:{inc.get('target')}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=float, default=5.0, help="simulated calm days per seed (default 5)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=150.0, help="interactions per second of traffic (default 150)")
    ap.add_argument("--time-scale", type=float, default=720.0)
    ap.add_argument("--train-days", type=float, default=1.2, help="simulated days of training rows (default 1.2)")
    ap.add_argument(
        "--learn-days",
        type=float,
        default=2.5,
        help="calm days before a fault starts (detectors learn one day; default 2.5)",
    )
    ap.add_argument("--only", default="", help="run the scenarios whose name contains this text")
    ap.add_argument("--no-calm", action="store_true")
    args = ap.parse_args(argv)
    ok = True
    started = time.perf_counter()
    if not args.no_calm:
        total: Counter[str] = Counter()
        for seed in range(1, args.seeds + 1):
            total += calm(seed, args.days, args)
        n = sum(total.values())
        print(f"calm: {args.seeds} seeds x {args.days:g} simulated days: {n} false incidents {dict(total)}")
        ok &= n == 0
    for sc in SCENARIOS:
        if args.only and args.only not in sc.name:
            continue
        for seed in range(1, args.seeds + 1):
            right, delay, seen = play(seed, sc, args)
            secs = f"{delay / args.rate:.1f} s" if delay is not None else "-"
            verdict = "PASS" if right else "FAIL"
            print(
                f"{verdict} {sc.name:28} seed {seed}: detected after {delay} interactions ({secs}); "
                f"incidents: {seen[:6]}"
            )
            ok &= right
    print(f"{'PASS' if ok else 'FAIL'} in {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

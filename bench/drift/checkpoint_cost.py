"""What the data-only drift checkpoint costs, against pickle (the format it replaced) in the same run.

    .venv/bin/python -m bench.drift.checkpoint_cost [--interactions N] [--repeat R]

A monitor is fed seasonal pipeline traffic (every detector kind: season references, skew, error
rate, ADWIN, DDM), then its state is written and read R times in each format. Printed: blob size,
median write and read time, and the share of one core the service spends at its default interval.
Pickle is only the baseline here: it runs whatever a blob names, so the service never reads one.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any

from kit.replay import Pipeline
from services.drift import checkpoint
from services.drift.config import load_thresholds
from services.drift.handlers import DriftMonitor
from services.drift.join import MemoryPendingStore
from services.drift.settings import DriftSettings


def _fed_monitor(interactions: int) -> DriftMonitor:
    pipe = Pipeline(seed=3, time_scale=720, dt_ms=1000 / 150)
    pipe.skip(2000)
    model = pipe.model()
    th = load_thresholds()
    th = th.model_copy(update={"season": th.season.model_copy(update={"period_s": 120})})
    mon = DriftMonitor(th, MemoryPendingStore())
    mon.handle("model.events", model)
    for batch in pipe.batches(interactions):
        streams = (("features", batch.features), ("predictions", batch.predictions), ("labels", batch.labels))
        for topic, events in streams:
            for e in events:
                mon.handle(topic, e)
    return mon


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--interactions", type=int, default=30_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    mon = _fed_monitor(args.interactions)
    state = {"version": 4, "state": mon.state, "stats": dict(mon.stats)}
    ours, theirs = checkpoint.dumps(state), pickle.dumps(state)
    write = _median_ms(lambda: checkpoint.dumps(state), args.repeat)
    read = _median_ms(lambda: checkpoint.loads(ours), args.repeat)
    p_write = _median_ms(lambda: pickle.dumps(state), args.repeat)
    p_read = _median_ms(lambda: pickle.loads(theirs), args.repeat)
    interval_s = DriftSettings().checkpoint_interval_s
    print(f"state after {args.interactions} interactions ({len(mon.state.features)} features)")
    print(f"{'format':<14}{'bytes':>10}{'write ms':>10}{'read ms':>10}")
    print(f"{'tagged JSON':<14}{len(ours):>10}{write:>10.1f}{read:>10.1f}")
    print(f"{'pickle':<14}{len(theirs):>10}{p_write:>10.1f}{p_read:>10.1f}")
    print(
        f"ratio (ours / pickle): size {len(ours) / len(theirs):.2f}, write {write / p_write:.1f}x, read "
        f"{read / p_read:.1f}x; a write every {interval_s:g} s costs {write / (interval_s * 1000):.2%} of one core"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

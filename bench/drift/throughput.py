"""Throughput of the drift monitor alone (pure, in-process) against raw river ADWIN updates.

    .venv/bin/python -m bench.drift.throughput [--events N] [--features K]

Both sides handle the same number of feature values: the monitor gets N FeatureVector events of K
numeric features; river gets N x K ADWIN updates. The ratio is the monitor's cost per feature value
over one raw river update (it also runs PageHinkley, quality and the incident logic).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from river.drift import ADWIN

from services.drift.config import load_thresholds
from services.drift.handlers import DriftMonitor
from services.drift.join import MemoryPendingStore


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--features", type=int, default=5)
    args = ap.parse_args(argv)
    n, k = args.events, args.features
    rng = np.random.default_rng(0)
    values = rng.standard_normal((n, k)) * 10 + 50
    names = [f"f{j}" for j in range(k)]
    events = [
        {
            "event_id": f"e{i}",
            "ts": i,
            "numeric": dict(zip(names, row.tolist(), strict=True)),
            "categorical": {},
        }
        for i, row in enumerate(values)
    ]
    mon = DriftMonitor(load_thresholds(), MemoryPendingStore())
    t0 = time.perf_counter()
    for e in events:
        mon.handle("features", e)
    t_mon = time.perf_counter() - t0
    flat = values.ravel().tolist()
    detectors = [ADWIN() for _ in range(k)]
    t0 = time.perf_counter()
    for i, x in enumerate(flat):
        d = detectors[i % k]
        d.update(x)
        _ = d.drift_detected
    t_raw = time.perf_counter() - t0
    per_value_mon = t_mon / (n * k)
    per_value_raw = t_raw / (n * k)
    print(
        f"monitor: {n} events x {k} numeric features in {t_mon:.2f}s = {n / t_mon:,.0f} events/s "
        f"({n * k / t_mon:,.0f} feature values/s, {per_value_mon * 1e6:.2f} us/value)"
    )
    print(
        f"river ADWIN raw: {n * k} updates in {t_raw:.2f}s = {n * k / t_raw:,.0f} updates/s "
        f"({per_value_raw * 1e6:.2f} us/update)"
    )
    print(f"ratio: the monitor costs {per_value_mon / per_value_raw:.1f}x a raw ADWIN update per feature value")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

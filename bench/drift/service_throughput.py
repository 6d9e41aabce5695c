"""Throughput of the running drift service through real Kafka, next to the in-process monitor's.

    .venv/bin/python -m bench.drift.service_throughput [--interactions N]

Pre-makes N interactions of loadgen traffic (FeatureVectors, predictions, delayed labels: 3N
messages) with the pipeline's own code, produces them to a fresh topic prefix before the service
starts, then starts ``python -m services.drift`` and times it from ready until its consumed counter
(/metrics) reaches every message: a backlog drained at full speed, label join in Redis included.
The same events then go through the monitor in-process (memory join) for comparison.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from kit.drift_process import DriftProcess, produce
from kit.replay import PREROLL, Batch, Pipeline
from services.common.settings import CommonSettings
from services.common.topics import ensure_topics
from services.drift.config import load_thresholds
from services.drift.handlers import DriftMonitor
from services.drift.join import MemoryPendingStore


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--interactions", type=int, default=20_000)
    args = ap.parse_args(argv)
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = CommonSettings(topic_prefix=prefix, log_to_kafka=False)
    ensure_topics(settings)
    pipe = Pipeline(seed=7)
    pipe.skip(PREROLL)
    model = pipe.model()
    batches: list[Batch] = list(pipe.batches(args.interactions))
    t0 = time.perf_counter()
    sent = produce(settings, batches, model)
    t_produce = time.perf_counter() - t0
    print(f"produced {sent} messages to {prefix}* in {t_produce:.1f}s ({sent / t_produce:,.0f}/s)")

    with tempfile.TemporaryDirectory() as tmp:
        service = DriftProcess(prefix, Path(tmp) / "drift.log")
        try:
            service.start()
            secs = service.wait_consumed(sent, timeout_s=600)
        finally:
            service.stop(settings.redis_url)
    print(f"drift service via Kafka: {sent} messages in {secs:.1f}s = {sent / secs:,.0f} events/s")

    mon = DriftMonitor(load_thresholds(), MemoryPendingStore())
    mon.handle("model.events", model)
    t0 = time.perf_counter()
    for b in batches:
        for f in b.features:
            mon.handle("features", f)
        for p in b.predictions:
            mon.handle("predictions", p)
        for lb in b.labels:
            mon.handle("labels", lb)
    t_mon = time.perf_counter() - t0
    print(f"drift monitor in-process: {sent - 1} events in {t_mon:.1f}s = {(sent - 1) / t_mon:,.0f} events/s")
    print(f"service / in-process: {(sent / secs) / ((sent - 1) / t_mon):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

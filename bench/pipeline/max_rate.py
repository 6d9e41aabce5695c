"""Capacity of the whole monitored pipeline on this machine: the four services and loadgen on real infra.

    .venv/bin/python -m bench.pipeline.max_rate [--rates 500,1000,2000,5000] [--seconds 30]

For each fixed rate: loadgen offers the rate for ``--seconds``; then, per event (matched by
interaction id across topics), the end-to-end latency is the Prediction's ``ts`` minus the
Interaction's ``ts``, split into stages by the Kafka timestamps of the hops in between:

    ingest     interaction generated -> interactions.valid produced   (raw hop + contract check)
    feature.1  -> <app>-by-job produced                                 (valid hop + member window)
    feature.2  -> FeatureVector built                                   (by-job hop + job window)
    inference  -> Prediction produced                                   (features hop + scoring)

It also reports each process's CPU (cores busy and CPU microseconds per event: on two shared
cores the sum is what bounds the rate), the consumer lag when loadgen stops, and the highest rate
sustained with p99 under 1 s and nothing left behind. Finally it profiles every process at that
rate with py-spy (sampling, non-blocking) and prints where the CPU goes.

Everything runs on 127.0.0.1 under a unique topic prefix and PostgreSQL schema, bounded in time,
and every process started is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.kafka import avro_decoder, end_offsets, read_range
from kit.pipeline import Pipeline
from kit.procs import cpu_seconds, terminate
from services.common.settings import CommonSettings

P99_LIMIT_MS = 1000.0
STAGES = ("ingest", "feature.1", "feature.2", "inference")
PIPELINE_ENV = {
    "AIG_MIN_ROWS": "600",  # the first model after a few seconds of warm-up traffic
    "AIG_CHECK_INTERVAL_S": "1",
    "AIG_NUM_BOOST_ROUND": "60",
}


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class Step:
    rate: float
    seconds: float
    sent: int = 0
    offered_rate: float = 0.0
    scored: int = 0
    scored_in_window: int = 0
    window_s: float = 0.0
    lag_end: dict[str, int] = field(default_factory=dict)
    drained_s: float | None = None
    e2e: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds over the window
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def throughput(self) -> float:
        """Predictions produced per second while loadgen was sending."""
        return self.scored_in_window / self.window_s if self.window_s else 0.0

    def handled(self, process: str) -> int:
        """Events a process handled in the window: all sent up to ingest, the scored ones after it."""
        return max(1, self.sent if process in ("loadgen", "ingest") else self.scored_in_window)

    @property
    def sustained(self) -> bool:
        return (
            self.sent > 0
            and self.offered_rate >= 0.95 * self.rate
            and self.scored >= 0.999 * self.sent
            and self.drained_s is not None
            and pct(self.e2e, 99) < P99_LIMIT_MS
        )

    def row(self) -> str:
        lag = sum(self.lag_end.get(s, 0) for s in ("ingest", "feature", "inference"))
        drained = f"{self.drained_s:5.1f}" if self.drained_s is not None else "  no "
        return (
            f"{self.rate:7.0f} {self.offered_rate:8.0f} {self.throughput:9.0f} {self.scored:8d}/{self.sent:<8d}"
            f" {pct(self.e2e, 50):8.0f} {pct(self.e2e, 99):8.0f} {lag:8d} {drained:>7}"
            f"  {'yes' if self.sustained else 'NO ':3}  {self.load[0]:4.2f}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "sent": self.sent,
            "offered_rate": self.offered_rate,
            "throughput": round(self.throughput, 1),
            "scored": self.scored,
            "p50_ms": pct(self.e2e, 50),
            "p99_ms": pct(self.e2e, 99),
            "lag_end": self.lag_end,
            "drained_s": self.drained_s,
            "sustained": self.sustained,
            "load_avg": self.load,
            "stages_ms": {k: {"p50": pct(v, 50), "p99": pct(v, 99)} for k, v in self.stages.items()},
            "cpu_cores": {k: round(v / self.window_s, 3) for k, v in self.cpu.items()} if self.window_s else {},
            "cpu_us_per_event": {k: round(v / self.handled(k) * 1e6, 1) for k, v in self.cpu.items()},
        }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="aig-bench-"))
        self.pipe: Pipeline | None = None
        self.generation = 0

    # ------------------------------------------------------------------ pipeline
    def fresh_pipeline(self) -> Pipeline:
        if self.pipe is not None:
            self.pipe.stop()
        self.generation += 1
        extra = dict(item.split("=", 1) for item in self.args.env)
        pipe = Pipeline(self.root / f"run{self.generation}", env={**PIPELINE_ENV, **extra})
        self.pipe = pipe
        started = time.monotonic()
        pipe.start()
        pipe.wait_up(90)
        log(f"pipeline {pipe.prefix} up in {time.monotonic() - started:.1f} s; warming up (first model)")
        gen = pipe.loadgen(self.args.warmup_rate, 90, f"warm{uuid.uuid4().hex[:6]}", log_name="warmup.log")
        try:
            deadline = time.monotonic() + 90
            while pipe.model_version() is None:
                pipe.check_alive()
                if time.monotonic() > deadline or gen.poll() is not None:
                    raise RuntimeError("no model served after the warm-up traffic")
                time.sleep(0.5)
        finally:
            terminate(gen, 30.0)
        log(f"model v{pipe.model_version()} served after {time.monotonic() - started:.1f} s")
        if self.wait_drained(60) is None:
            raise RuntimeError(f"warm-up backlog did not drain: {pipe.lag()}")
        return pipe

    def wait_drained(self, timeout_s: float) -> float | None:
        """Seconds until the hot path has no lag, or None after ``timeout_s``."""
        assert self.pipe is not None
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            lag = self.pipe.lag()
            if lag["ingest"] == 0 and lag["feature"] == 0 and lag["inference"] == 0:
                return time.monotonic() - started
            self.pipe.check_alive()
            time.sleep(0.5)
        return None

    # ------------------------------------------------------------------ one rate
    def topics(self) -> dict[str, str]:
        assert self.pipe is not None
        t = self.pipe.settings.topic
        return {
            "raw": t("interactions.raw"),
            "valid": t("interactions.valid"),
            "byjob": f"{self.pipe.feature_app_id}-by-job",
            "features": t("features"),
            "predictions": t("predictions"),
        }

    def run_rate(self, rate: float, seconds: float, profile_s: float = 0.0) -> tuple[Step, dict[str, Path]]:
        pipe = self.pipe
        assert pipe is not None
        boot = pipe.settings.kafka_bootstrap
        topics = self.topics()
        start_offsets = {k: end_offsets(boot, t) for k, t in topics.items()}
        step = Step(rate, seconds)
        cpu0 = pipe.cpu()
        t0 = time.time()
        gen = pipe.loadgen(rate, seconds, f"r{int(rate)}-{uuid.uuid4().hex[:6]}", log_name=f"loadgen-{int(rate)}.log")
        spies = self.start_profilers({**{n: p.pid for n, p in pipe.procs.items()}, "loadgen": gen.pid}, profile_s)
        gen_cpu = 0.0
        while gen.poll() is None:
            gen_cpu = max(gen_cpu, cpu_seconds(gen.pid))
            time.sleep(0.25)
            if time.time() - t0 > seconds + 90:
                terminate(gen, 30.0)
        t1 = time.time()
        cpu1 = pipe.cpu()
        step.lag_end = pipe.lag()
        step.load = os.getloadavg()
        out = (gen.stdout.read() if gen.stdout else b"").decode().strip().splitlines()
        stats = json.loads(out[-1]) if out else {}
        step.sent, step.offered_rate = int(stats.get("sent", 0)), float(stats.get("rate", 0.0))
        step.window_s = t1 - t0
        step.cpu = {n: cpu1[n] - cpu0.get(n, 0.0) for n in cpu1}
        step.cpu["loadgen"] = gen_cpu
        profiles = self.finish_profilers(spies)
        step.drained_s = self.wait_drained(self.args.drain_seconds)
        self.measure(step, start_offsets, int(t0 * 1000), int(t1 * 1000))
        return step, profiles

    def measure(self, step: Step, start: dict[str, dict[int, int]], t0_ms: int, t1_ms: int) -> None:
        assert self.pipe is not None
        boot = self.pipe.settings.kafka_bootstrap
        settings = CommonSettings(topic_prefix=self.pipe.prefix)
        topics = self.topics()

        def read(key: str, decode: Any) -> list[tuple[Any, int]]:
            return read_range(boot, topics[key], start[key], end_offsets(boot, topics[key]), decode, timeout_s=120)

        generated = {v["event_id"]: v["ts"] for v, _ in read("raw", avro_decoder(settings, "interactions.raw")) if v}
        valid = {v["event_id"]: ts for v, ts in read("valid", avro_decoder(settings, "interactions.valid")) if v}
        byjob = {v["event_id"]: ts for v, ts in read("byjob", json.loads) if v}
        built = {v["interaction_id"]: v["ts"] for v, _ in read("features", avro_decoder(settings, "features")) if v}
        predicted: dict[str, int] = {}
        for v, _ in read("predictions", avro_decoder(settings, "predictions")):
            if v and v["interaction_id"] in generated:
                predicted.setdefault(v["interaction_id"], v["ts"])
        step.scored = len(predicted)
        step.scored_in_window = sum(1 for ts in predicted.values() if t0_ms <= ts <= t1_ms)
        stages: dict[str, list[float]] = defaultdict(list)
        for iid, p_ts in predicted.items():
            g = generated[iid]
            step.e2e.append(p_ts - g)
            if iid in valid and iid in byjob and iid in built:
                stages["ingest"].append(valid[iid] - g)
                stages["feature.1"].append(byjob[iid] - valid[iid])
                stages["feature.2"].append(built[iid] - byjob[iid])
                stages["inference"].append(p_ts - built[iid])
        step.stages = dict(stages)

    # ------------------------------------------------------------------ profiling
    def start_profilers(self, pids: dict[str, int], seconds: float) -> dict[str, tuple[subprocess.Popen[bytes], Path]]:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if seconds <= 0 or not Path(spy).exists():
            return {}
        out = {}
        for name, pid in pids.items():
            path = self.root / f"profile-{name}.txt"
            cmd = [
                spy,
                "record",
                "-p",
                str(pid),
                "-d",
                str(int(seconds)),
                "-r",
                str(self.args.profile_hz),
                "-f",
                "raw",
                "-o",
                str(path),
                "--nonblocking",
                "--gil",
            ]
            out[name] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), path)
        return out

    def finish_profilers(self, spies: dict[str, tuple[subprocess.Popen[bytes], Path]]) -> dict[str, Path]:
        done = {}
        for name, (proc, path) in spies.items():
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                terminate(proc, 30.0)
                err = b"timeout"
            if path.exists() and path.stat().st_size:
                done[name] = path
            else:
                log(f"py-spy on {name} gave no profile: {err.decode(errors='replace')[-300:]}")
        return done

    def close(self) -> None:
        if self.pipe is not None:
            self.pipe.stop()
        if not self.args.keep:
            shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------- profile reading
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("avro codec", ("services/common/codec.py",)),
    ("contract check", ("services/ingest/contract.py",)),
    ("window state (faust tables, rocksdb)", ("faust/tables", "rocksdict", "faust/stores")),
    ("online store (redis)", ("redis/",)),
    ("model scoring (lightgbm)", ("lightgbm", "services/trainer/fitting.py")),
    ("traffic generation", ("loadgen/traffic.py", "loadgen/faults")),
    ("kafka client (aiokafka)", ("aiokafka/",)),
    ("kafka client (confluent)", ("confluent_kafka", "services/common/bus/")),
    ("faust/mode stream machinery", ("faust/", "mode/")),
    ("asyncio event loop", ("asyncio/",)),
    ("json", ("json/",)),
    ("offline sink (postgres)", ("psycopg", "services/feature/offline.py")),
    ("http server (uvicorn)", ("uvicorn", "starlette", "fastapi")),
    ("metrics", ("prometheus_client",)),
)


def read_profile(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """Samples, leaf-function counts and category counts (innermost matching frame wins) of a raw py-spy file."""
    total = 0
    leaves: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        n = int(count_text)
        frames = stack.split(";")
        total += n
        leaves[_short(frames[-1])] += n
        cats[_category(frames)] += n
    return total, leaves, cats


def _short(frame: str) -> str:
    # "func (path/to/file.py:12)" -> "func (file.py)"
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    parts = file.split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for label, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return label
    return "other"


# ---------------------------------------------------------------------- output
def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def print_step_detail(step: Step) -> None:
    parts = [f"{k} {pct(v, 50):.0f}/{pct(v, 99):.0f}" for k, v in step.stages.items()]
    print(f"    stages p50/p99 ms: {', '.join(parts) or '-'}")
    if step.window_s and step.sent:
        cpu = ", ".join(
            f"{k} {v / step.window_s:.2f} cores ({v / step.handled(k) * 1e6:.0f} us/ev)"
            for k, v in sorted(step.cpu.items(), key=lambda kv: -kv[1])
        )
        total = sum(step.cpu.values())
        print(f"    CPU (us per event handled): {cpu}; total {total / step.window_s:.2f} cores")
    print(f"    lag when loadgen stopped: {step.lag_end}")


def print_profiles(profiles: dict[str, Path], step: Step) -> None:
    for name, path in sorted(profiles.items()):
        total, leaves, cats = read_profile(path)
        if not total:
            continue
        cores = step.cpu.get(name, 0.0) / step.window_s if step.window_s else 0.0
        print(f"  {name} ({total} samples, {cores:.2f} cores busy):")
        print("    by area: " + ", ".join(f"{c} {n / total:.0%}" for c, n in cats.most_common(7)))
        print("    hottest functions (self): " + ", ".join(f"{f} {n / total:.0%}" for f, n in leaves.most_common(6)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,1000,2000,5000", help="comma-separated events/s (default %(default)s)")
    ap.add_argument("--seconds", type=float, default=30.0, help="seconds per rate (default %(default)s)")
    ap.add_argument("--drain-seconds", type=float, default=45.0, help="max wait for the backlog after each rate")
    ap.add_argument("--warmup-rate", type=float, default=300.0, help="traffic until the first model is served")
    ap.add_argument("--profile-seconds", type=float, default=20.0, help="py-spy at the best rate (0: no profile)")
    ap.add_argument("--profile-hz", type=int, default=50, help="py-spy samples per second")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="AIG_X=VALUE",
        help="setting for every service, e.g. AIG_POLL_TIMEOUT_S=0.2 (repeatable)",
    )
    ap.add_argument("--keep", action="store_true", help="keep logs and profiles (temp dir printed)")
    args = ap.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if not rates or min(rates) <= 0 or args.seconds <= 0:
        ap.error("rates and seconds must be positive")

    bench = Bench(args)
    steps: list[Step] = []
    try:
        log(f"load average before: {os.getloadavg()}, {os.cpu_count()} cores; work dir {bench.root}")
        bench.fresh_pipeline()
        for rate in sorted(rates):
            log(f"rate {rate:g}/s for {args.seconds:g} s")
            step, _ = bench.run_rate(rate, args.seconds)
            steps.append(step)
            log(
                f"  -> offered {step.offered_rate:.0f}/s, throughput {step.throughput:.0f}/s, "
                f"p99 {pct(step.e2e, 99):.0f} ms, drained in {step.drained_s}"
            )
            if step.drained_s is None and rate != max(rates):
                log("  backlog left: a fresh pipeline for the next rate")
                bench.fresh_pipeline()
        good = [s for s in steps if s.sustained]
        best = max(good, key=lambda s: s.rate) if good else None
        print(f"\nPipeline capacity ({os.cpu_count()} cores, shared; {args.seconds:g} s per rate)")
        print("   rate  offered  through   scored/sent        p50ms    p99ms  lag@end drain_s  ok?  load1")
        for s in steps:
            print(s.row())
            print_step_detail(s)
        if best is not None:
            print(f"\nmax sustained rate (p99 < {P99_LIMIT_MS:.0f} ms, nothing left behind): {best.rate:g} events/s")
        else:
            print(f"\nno rate was sustained with p99 < {P99_LIMIT_MS:.0f} ms")
        peak = max(steps, key=lambda s: s.throughput)
        print(f"highest throughput measured: {peak.throughput:.0f} predictions/s (offered {peak.rate:g}/s)")

        profiled: Step | None = None
        if args.profile_seconds > 0:
            target = best.rate if best else min(rates)
            if steps[-1].drained_s is None:
                bench.fresh_pipeline()
            log(f"profiling at {target:g}/s for {args.profile_seconds:g} s (py-spy, {args.profile_hz} Hz)")
            profiled, profiles = bench.run_rate(target, args.profile_seconds + 4, profile_s=args.profile_seconds)
            p99 = pct(profiled.e2e, 99)
            print(f"\nProfile at {target:g} events/s (p99 {p99:.0f} ms, load {profiled.load[0]:.2f}):")
            print_step_detail(profiled)
            print_profiles(profiles, profiled)
        if args.json is not None:
            doc = {
                "steps": [s.as_dict() for s in steps],
                "best_rate": best.rate if best else None,
                "profile": profiled.as_dict() if profiled else None,
            }
            args.json.write_text(json.dumps(doc, indent=2))
        print(f"load average after: {os.getloadavg()}")
        return 0
    finally:
        bench.close()
        if args.keep:
            print(f"logs and profiles kept in {bench.root}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

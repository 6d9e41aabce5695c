"""Soak: the whole system under steady traffic for a bounded time; does memory settle and does every group keep up?

    .venv/bin/python -m bench.soak [--minutes 30] [--rate 100] [--sample-s 60] [--out soak.json]

Starts the four pipeline services (kit.pipeline.Pipeline), the drift service, the log-classifier and the
healer as real processes, isolated (own topic prefix, PostgreSQL schema, Redis keys, ports, files), sends
loadgen traffic at one fixed rate, and every sample period records for each service the RSS
(/proc/<pid>/status VmRSS, forked children included), the CPU and the consumer lag of its groups on
their input topics. At the end it prints one row per sample and a verdict per service (the thresholds
are in bench/soak/trend.py and printed with the verdicts) and exits 1 when any service fails.

The healer runs in dry run (it decides and audits but acts on nothing): in a steady run there is
nothing to heal, and an action taken on a false incident would disturb what is measured. Its health
watch polls the other services as in production.

Everything talks to 127.0.0.1 only, is bounded in time (each start-up wait, the run, the teardown),
and every process started is stopped at the end, with the run's topics, schema and Redis keys.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import ipaddress
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import redis
from confluent_kafka import KafkaException

from bench.soak.trend import HOUR_S, Limits, Verdict, judge, per_second, traffic_held
from kit.group_offsets import group_position
from kit.kafka import read_topic
from kit.pipeline import Pipeline
from kit.procs import terminate
from kit.proctree import tree_usage
from kit.wait import WaitTimeout, http_ok, wait_until
from services.common.codec import CodecError
from services.common.connections import redis_client
from services.common.settings import CommonSettings

MIB = 1024 * 1024
SERVICES = ("ingest", "feature", "trainer", "inference", "drift", "logclassifier", "healer")
SHORT = {"logclassifier": "logclf", "inference": "infer"}
GUARD_FIRST = ("drift", "logclassifier")  # started with the pipeline; the healer after the first model
READY_PATH = {"inference": "/health"}  # /ready of inference needs a model, which the traffic makes first
STARTUP_S = 240.0  # the log-classifier loads a sentence-transformers model on a busy machine
FIRST_MODEL_S = 180.0
HEALER_S = 90.0
MAX_MINUTES = 24 * 60.0
PIPELINE_ENV = {"AIG_LOG_TO_KAFKA": "true"}  # the log-classifier reads the services' WARN+ records
TRAINER_ENV = {"AIG_MIN_ROWS": "600", "AIG_CHECK_INTERVAL_S": "1", "AIG_NUM_BOOST_ROUND": "60"}  # a first model soon


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class ServiceDied(RuntimeError):
    """A service exited during the run: a soak FAIL in itself."""

    def __init__(self, service: str, code: int, tail: str) -> None:
        super().__init__(f"{service} exited with {code}:\n{tail}")
        self.service, self.code = service, code


# ---------------------------------------------------------------------- what is read
def groups_of(pipe: Pipeline) -> dict[str, list[tuple[str, list[str]]]]:
    """Each service's consumer groups (named by CommonSettings.consumer_group) and their input topics.

    Groups of one replica alone (commands of ingest, model.events of inference) carry a random suffix
    and a trickle of messages; they are left out.
    """
    t = pipe.settings.topic

    def group(service: str, role: str = "") -> str:
        return CommonSettings(topic_prefix=pipe.prefix, service_name=service, group_id="").consumer_group(role)

    hot = pipe.groups
    return {
        "ingest": [hot["ingest"]],
        "feature": [hot["feature"], hot["offline"]],
        "trainer": [(group("trainer"), [t("commands")])],
        "inference": [hot["inference"]],
        "drift": [(group("drift"), [t("features"), t("predictions"), t("labels"), t("model.events")])],
        "logclassifier": [(group("logclassifier"), [t("logs")])],
        "healer": [(group("healer"), [t("incidents"), t("model.events")]), (group("healer", "audit"), [t("audit")])],
    }


@dataclass
class Sample:
    """One reading of every service; CPU is cumulative (a rate needs two samples)."""

    t_s: float
    wall: str
    load1: float
    rss_mib: dict[str, float]
    cpu_s: dict[str, float]
    processes: dict[str, int]
    lag: dict[str, int]  # per service: the sum over its groups
    end: dict[str, int]  # per service: messages ever written to its groups' inputs
    groups: dict[str, dict[str, int]]  # per group: lag and end


def take_sample(pipe: Pipeline, groups: dict[str, list[tuple[str, list[str]]]], t_s: float) -> Sample:
    sample = Sample(t_s, time.strftime("%Y-%m-%dT%H:%M:%S"), os.getloadavg()[0], {}, {}, {}, {}, {}, {})
    for name in SERVICES:
        proc = pipe.procs[name]
        if not proc.alive():
            raise ServiceDied(name, int(proc.popen.returncode), proc.tail())
        usage = tree_usage(proc.pid)
        sample.rss_mib[name] = round(usage.rss_bytes / MIB, 2)
        sample.cpu_s[name] = round(usage.cpu_s, 2)
        sample.processes[name] = usage.processes
        lag = end = 0
        for group, topics in groups[name]:
            pos = group_position(pipe.settings.kafka_bootstrap, group, topics)
            sample.groups[group] = {"lag": pos.lag, "end": pos.end}
            lag, end = lag + pos.lag, end + pos.end
        sample.lag[name], sample.end[name] = lag, end
    return sample


# ---------------------------------------------------------------------- the run
@dataclass
class Run:
    """The configuration of one soak and what it found."""

    minutes: float
    rate: float
    sample_s: float
    limits: Limits
    samples: list[Sample]
    died: dict[str, int]
    loadgen: dict[str, Any]
    prefix: str = ""
    aborted: str = ""  # why sampling stopped before the end, if it did
    incidents: list[dict[str, Any]] = field(default_factory=list)  # raised during the run (calm traffic: none)

    @property
    def duration_s(self) -> float:
        return self.minutes * 60.0

    def sample_times(self) -> list[float]:
        """0, sample_s, 2 sample_s ... and the end of the run."""
        times = [k * self.sample_s for k in range(int(self.duration_s // self.sample_s) + 1)]
        if self.duration_s - times[-1] > 1.0:
            times.append(self.duration_s)
        return times

    def ingest_rate(self) -> float:
        """Interactions per second that reached interactions.raw during the samples: the traffic really offered."""
        return per_second([s.t_s for s in self.samples], [s.end["ingest"] for s in self.samples])

    def verdicts(self) -> list[Verdict]:
        times = [s.t_s for s in self.samples]
        out = []
        for name in SERVICES:
            verdict = judge(
                name,
                times,
                [s.rss_mib[name] for s in self.samples],
                [s.lag[name] for s in self.samples],
                [s.end[name] for s in self.samples],
                self.limits,
            )
            if name in self.died:
                verdict = replace(verdict, reasons=(f"process exited with {self.died[name]}", *verdict.reasons))
            out.append(verdict)
        return out


def ready_url(pipe: Pipeline, name: str) -> str:
    return f"http://127.0.0.1:{pipe.procs[name].port}{READY_PATH.get(name, '/ready')}"


def wait_ready(pipe: Pipeline, names: tuple[str, ...], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for name in names:
        proc = pipe.procs[name]
        url = ready_url(pipe, name)
        left = max(1.0, deadline - time.monotonic())
        try:
            up = functools.partial(http_ok, url, 2.0)
            wait_until(up, left, f"{name} ready at {url}", proc.log, proc.popen, every_s=0.5)
        except WaitTimeout as exc:
            raise RuntimeError(f"{exc}:\n{proc.tail()}") from None


def start_system(pipe: Pipeline, root: Path) -> None:
    """Pipeline and drift and log-classifier first; then, once inference serves a model, the healer."""
    started = time.monotonic()
    pipe.start((*("ingest", "feature", "trainer", "inference"), *GUARD_FIRST))
    wait_ready(pipe, tuple(pipe.procs), STARTUP_S)
    log(f"pipeline, drift and log-classifier ready in {time.monotonic() - started:.0f} s (work dir {root})")


def wait_first_model(pipe: Pipeline, traffic: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + FIRST_MODEL_S
    while pipe.model_version() is None:
        pipe.check_alive()
        if traffic.poll() is not None:
            raise RuntimeError(f"loadgen exited with {traffic.returncode}; read {pipe.work_dir / 'loadgen.log'}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no model served after {FIRST_MODEL_S:.0f} s of traffic; read the trainer's log")
        time.sleep(1.0)
    log(f"inference serves model v{pipe.model_version()}")


def start_healer(pipe: Pipeline) -> None:
    """The healer in dry run, on Redis keys and a compose project of this run, watching the other services."""
    urls = {name: f"http://127.0.0.1:{proc.port}" for name, proc in pipe.procs.items()}
    healer_env = {
        "AIG_DRY_RUN": "true",
        "AIG_REDIS_PREFIX": f"aig:healer:{pipe.prefix}",
        "AIG_COMPOSE_PROJECT": f"aig-soak-{pipe.prefix.strip('.')}",
        "AIG_WATCH_URLS": json.dumps(urls),
    }
    pipe.service_env = {**pipe.service_env, "healer": healer_env}
    pipe.start(("healer",))
    wait_ready(pipe, ("healer",), HEALER_S)
    log("healer ready (dry run)")


def sample_loop(run: Run, pipe: Pipeline, traffic: subprocess.Popen[bytes]) -> None:
    """One sample per period on fixed deadlines from the start, so a slow reading does not stretch the run."""
    groups = groups_of(pipe)
    t0 = time.monotonic()
    for at in run.sample_times():
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        if traffic.poll() is not None:
            raise RuntimeError(f"loadgen stopped early with {traffic.returncode}; read {pipe.work_dir}/loadgen.log")
        sample = take_sample(pipe, groups, round(time.monotonic() - t0, 1))
        run.samples.append(sample)
        rss = "  ".join(f"{SHORT.get(n, n)} {sample.rss_mib[n]:.0f}" for n in SERVICES)
        log(f"t={sample.t_s:6.0f}s  RSS MiB: {rss}  lag total {sum(sample.lag.values())}")


def stop_traffic(run: Run, traffic: subprocess.Popen[bytes] | None) -> None:
    if traffic is None:
        return
    terminate(traffic, 60.0)
    out = (traffic.stdout.read() if traffic.stdout else b"").decode(errors="replace").strip().splitlines()
    with contextlib.suppress(ValueError, IndexError):
        run.loadgen = json.loads(out[-1])


def latest_per_incident(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per incident: an open incident is re-sent with a growing count, the last record says it all."""
    keep = ("incident_id", "source", "type", "root_cause", "service", "target", "count", "summary")
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[str(record.get("incident_id"))] = {k: record.get(k) for k in keep}
    return list(latest.values())


def read_incidents(pipe: Pipeline) -> list[dict[str, Any]]:
    """What drift, the log-classifier and the health watch raised: under calm traffic every one is a false alarm."""
    with contextlib.suppress(KafkaException, CodecError):
        return latest_per_incident(read_topic(pipe.settings, "incidents", timeout_s=10.0))
    return []


def drop_redis_keys(prefix: str) -> int:
    """Delete this run's keys (online store, drift checkpoint and pending labels, healer state); best effort."""
    deleted = 0
    with contextlib.suppress(redis.RedisError):
        client = redis_client(CommonSettings(), socket_timeout=5)
        batch: list[Any] = []
        for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += cast(int, client.delete(*batch))  # the sync client answers an int
                batch = []
        if batch:
            deleted += cast(int, client.delete(*batch))
    return deleted


def soak(run: Run, args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="aig-soak-"))
    extra = dict(item.split("=", 1) for item in args.env)
    pipe = Pipeline(
        root,
        prefix=f"soak{uuid.uuid4().hex[:8]}.",
        env={**PIPELINE_ENV, **extra},
        service_env={
            "trainer": TRAINER_ENV,
            "logclassifier": {"AIG_DRAIN_STATE_PATH": str(root / "drain3_state.bin"), "HF_HUB_OFFLINE": "1"},
        },
    )
    run.prefix = pipe.prefix
    traffic: subprocess.Popen[bytes] | None = None
    try:
        start_system(pipe, root)
        # One loadgen for the whole run at the one rate; it ends by itself if this process is gone.
        bound_s = FIRST_MODEL_S + HEALER_S + run.duration_s + 120.0
        traffic = pipe.loadgen(run.rate, bound_s, f"soak{uuid.uuid4().hex[:6]}")
        log(f"traffic {run.rate:g} interactions/s; waiting for the first model")
        wait_first_model(pipe, traffic)
        start_healer(pipe)
        log(f"soak: {run.minutes:g} min, a sample every {run.sample_s:g} s, warm-up {run.limits.warmup_s:g} s")
        try:
            sample_loop(run, pipe, traffic)
        except (RuntimeError, KafkaException) as exc:
            # a service, loadgen or the broker gone: what was sampled is still reported, as a FAIL
            run.aborted = (str(exc).splitlines() or [type(exc).__name__])[0]
            if isinstance(exc, ServiceDied):
                run.died[exc.service] = exc.code
            log(str(exc))
    finally:
        stop_traffic(run, traffic)
        if run.samples:
            run.incidents = read_incidents(pipe)
        for name, proc in pipe.procs.items():  # a service that died after the last sample still fails
            if not proc.alive() and name not in run.died:
                run.died[name] = int(proc.popen.returncode)
        pipe.stop()
        keys = drop_redis_keys(pipe.prefix)
        log(f"stopped; topics, schema and {keys} Redis keys of {pipe.prefix} removed")
        if args.keep:
            log(f"logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------- output
def _cell(value: float | None, width: int, digits: int = 0) -> str:
    return f"{'-':>{width}}" if value is None or math.isnan(value) else f"{value:>{width}.{digits}f}"


def print_samples(samples: list[Sample]) -> None:
    heads = "".join(f"{SHORT.get(n, n):>9}" for n in SERVICES)
    print("\nRSS, MiB (children included)\n    t_s  load1" + heads)
    for s in samples:
        print(f"{s.t_s:7.0f} {s.load1:6.2f}" + "".join(_cell(s.rss_mib[n], 9, 1) for n in SERVICES))
    print("\nCPU, % of one core since the previous sample\n    t_s" + heads)
    for prev, s in zip([None, *samples], samples, strict=False):
        dt = s.t_s - prev.t_s if prev is not None else 0.0
        cells = [(s.cpu_s[n] - prev.cpu_s[n]) / dt * 100 if prev is not None and dt > 0 else None for n in SERVICES]
        print(f"{s.t_s:7.0f}" + "".join(_cell(c, 9) for c in cells))
    print("\nConsumer lag, messages (all groups of the service)\n    t_s" + heads)
    for s in samples:
        print(f"{s.t_s:7.0f}" + "".join(f"{s.lag[n]:>9d}" for n in SERVICES))


def print_verdicts(run: Run, verdicts: list[Verdict], held: bool) -> None:
    print(f"\nVerdicts ({run.limits.describe()})")
    print(
        f"{'service':<14}{'RSS first':>10}{'last':>8}{'growth':>8}{'window':>8}{'slope/h':>9}{'input/s':>9}"
        f"{'max lag':>9}{'end lag':>9}{'end s':>7}  memory  lag   verdict"
    )
    for v in verdicts:
        m, lag = v.memory, v.lag
        print(
            f"{v.service:<14}{m.first_mib:>10.1f}{m.last_mib:>8.1f}{m.growth_mib:>+8.1f}{m.window_growth_mib:>+8.1f}"
            f"{_cell(m.slope_mib_h, 9, 1)}{lag.input_per_s:>9.1f}{lag.max_lag:>9d}{lag.final_lag:>9d}"
            f"{_cell(lag.seconds(lag.final_lag), 7, 1)}  {'ok  ' if v.memory_ok else 'FAIL'}    "
            f"{'ok  ' if v.lag_ok else 'FAIL'}  {'PASS' if v.ok else 'FAIL'}"
        )
    print("(MiB; growth: first to last sample; window: first to last sample after the warm-up; slope: least squares")
    print(" over the window; input/s: messages per second into the service's groups; end s: end lag in seconds of it)")
    for v in verdicts:
        for reason in v.reasons:
            print(f"  {v.service}: {reason}")
    offered = run.ingest_rate()
    print(f"\ntraffic: {offered:.1f} interactions/s reached interactions.raw (asked {run.rate:g}/s): ", end="")
    print("held" if held else "NOT held: the run proves less than asked (FAIL)")
    if run.loadgen:
        print(f"loadgen: sent {run.loadgen.get('sent')} at {run.loadgen.get('rate')}/s")
    print(f"incidents raised under the calm traffic (not part of the verdict): {len(run.incidents)}")
    for inc in run.incidents:
        print(f"  {inc['source']}: {inc['type']}/{inc['root_cause'] or '-'} on {inc['target'] or inc['service']}")
        print(f"    x{inc['count']} {inc['summary']}")


def write_json(path: Path, run: Run, verdicts: list[Verdict], held: bool, passed: bool) -> None:
    doc = {
        "config": {"minutes": run.minutes, "rate": run.rate, "sample_s": run.sample_s, "prefix": run.prefix},
        "limits": asdict(run.limits),
        "loadgen": run.loadgen,
        "died": run.died,
        "aborted": run.aborted,
        "incidents": run.incidents,
        "samples": [asdict(s) for s in run.samples],
        "verdicts": [
            {
                "service": v.service,
                "pass": v.ok,
                "memory_ok": v.memory_ok,
                "lag_ok": v.lag_ok,
                "reasons": list(v.reasons),
                "rss_first_mib": v.memory.first_mib,
                "rss_last_mib": v.memory.last_mib,
                "growth_mib": round(v.memory.growth_mib, 2),
                "window_growth_mib": round(v.memory.window_growth_mib, 2),
                "slope_mib_h": None if v.memory.slope_mib_h is None else round(v.memory.slope_mib_h, 2),
                "input_per_s": round(v.lag.input_per_s, 2),
                "max_lag": v.lag.max_lag,
                "final_lag": v.lag.final_lag,
            }
            for v in verdicts
        ],
        "traffic_held": held,
        "pass": passed,
    }
    path.write_text(json.dumps(doc, indent=2))


# ---------------------------------------------------------------------- entry point
def check_loopback() -> None:
    """Refuse to run against anything but this machine: a soak is load, and load is for local infrastructure."""
    settings = CommonSettings()
    kafka_hosts = [server.strip().rpartition(":")[0] for server in settings.kafka_bootstrap.split(",")]
    where = {
        "kafka": kafka_hosts,
        "postgres": [urlsplit(settings.postgres_dsn).hostname or ""],
        "redis": [urlsplit(settings.redis_url).hostname or ""],
    }
    for component, hosts in where.items():
        for host in hosts:
            try:
                loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise SystemExit(f"soak: {component} at {host!r} is not on 127.0.0.1; refusing to send load there")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=30.0, help="length of the sampled run (default %(default)s)")
    ap.add_argument("--rate", type=float, default=100.0, help="interactions per second (default %(default)s)")
    ap.add_argument("--sample-s", type=float, default=60.0, help="seconds between samples (default %(default)s)")
    ap.add_argument(
        "--warmup-s",
        type=float,
        default=None,
        help="samples before this are left out of the trends (default: a quarter of the run, at most 300 s)",
    )
    ap.add_argument(
        "--max-slope", type=float, default=Limits.max_slope_mib_h, help="MiB per hour (default %(default)s)"
    )
    ap.add_argument("--noise-mib", type=float, default=Limits.noise_mib, help="RSS jitter (default %(default)s)")
    ap.add_argument(
        "--final-lag-s", type=float, default=Limits.final_lag_s, help="seconds of input (default %(default)s)"
    )
    ap.add_argument("--max-lag-s", type=float, default=Limits.max_lag_s, help="seconds of input (default %(default)s)")
    ap.add_argument("--out", type=Path, default=None, help="also write the samples and verdicts here (JSON)")
    ap.add_argument(
        "--env", action="append", default=[], metavar="AIG_X=VALUE", help="setting for every service (repeatable)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the services' logs (the directory is printed)")
    args = ap.parse_args(argv)
    if not 0 < args.minutes <= MAX_MINUTES:
        ap.error(f"--minutes must be in (0, {MAX_MINUTES:g}]")
    if args.rate <= 0 or args.sample_s < 5:
        ap.error("--rate must be positive and --sample-s at least 5")
    duration = args.minutes * 60
    if args.warmup_s is None:
        args.warmup_s = min(300.0, duration / 4)
    if (duration - args.warmup_s) / args.sample_s < Limits.min_points - 1:
        ap.error(
            f"the run needs at least {Limits.min_points} samples after the warm-up: lengthen it or sample more often"
        )
    if any("=" not in item for item in args.env):
        ap.error("--env takes AIG_X=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    check_loopback()
    limits = Limits(
        warmup_s=args.warmup_s,
        max_slope_mib_h=args.max_slope,
        noise_mib=args.noise_mib,
        final_lag_s=args.final_lag_s,
        max_lag_s=args.max_lag_s,
    )
    run = Run(args.minutes, args.rate, args.sample_s, limits, samples=[], died={}, loadgen={})

    def on_term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the teardown: nothing is left running

    signal.signal(signal.SIGTERM, on_term)
    log(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    try:
        soak(run, args)
    except (RuntimeError, WaitTimeout) as exc:
        log(f"soak could not run: {exc}")
        return 2
    if not run.samples:
        print(f"FAIL: no sample taken; exited: {run.died}")
        return 1
    verdicts = run.verdicts()
    held = traffic_held(run.ingest_rate(), run.rate)
    passed = held and all(v.ok for v in verdicts) and not run.died and not run.aborted
    print_samples(run.samples)
    print_verdicts(run, verdicts, held)
    if run.aborted:
        print(f"\nsampling stopped early: {run.aborted}")
    covered = run.samples[-1].t_s
    print(f"\n{'PASS' if passed else 'FAIL'}: {len(run.samples)} samples over {covered / 60:.1f} min", end="")
    print(f" ({covered / HOUR_S:.2f} h) at {run.rate:g} interactions/s")
    if args.out is not None:
        write_json(args.out, run, verdicts, held, passed)
        print(f"samples written to {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

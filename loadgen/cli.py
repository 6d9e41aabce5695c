"""``loadgen``: realistic job-view traffic with delayed labels and fault injection.

loadgen run --rate 500 --duration 60 --seed 7 --fault covariate_shift --fault-at 30
loadgen sample --count 5            # print events as JSON lines, no Kafka needed
loadgen scenarios                   # list the faults
loadgen demo                        # the closed-loop demo (starts every service)
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence

from loadgen.faults.base import Fault, FaultError
from loadgen.faults.registry import FAULTS, create
from loadgen.traffic import TrafficConfig, TrafficGenerator


def _params(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FaultError(f"fault parameter must look like key=value, got {item!r}")
        out[key] = value
    return out


def build_faults(args: argparse.Namespace) -> list[Fault]:
    names: list[str] = args.fault or []
    ats: list[float] = args.fault_at or []
    durations: list[float] = args.fault_duration or []
    if len(ats) > len(names) or len(durations) > len(names):
        raise FaultError("each --fault-at/--fault-duration needs a --fault before it")
    params = _params(args.fault_param or [])
    faults = []
    for i, name in enumerate(names):
        cls = FAULTS.get(name)
        own = {k: v for k, v in params.items() if cls is not None and k in cls.params_help}
        duration = durations[i] if i < len(durations) else None
        # "inf" keeps a fault on until the end while a later fault of the same run gets a duration.
        faults.append(
            create(
                name,
                ats[i] if i < len(ats) else 0.0,
                duration,
                own,
            )
        )
    known = set().union(*(set(FAULTS[n].params_help) for n in names if n in FAULTS)) if names else set()
    unknown = set(params) - known
    if unknown:
        raise FaultError(f"parameter(s) {', '.join(sorted(unknown))} belong to none of the faults given")
    return faults


def _config(args: argparse.Namespace) -> TrafficConfig:
    lo, hi = args.label_delay
    return TrafficConfig(
        seed=args.seed,
        members=args.members,
        jobs=args.jobs,
        zipf_s=args.zipf,
        time_scale=args.time_scale,
        start_hour_utc=args.start_hour,
        label_delay_s=(lo, hi),
        run_id=args.run_id,
        clock_anchor_ms=args.clock_anchor_ms,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from loadgen.run import Sender, install_stop, run_traffic
    from loadgen.settings import LoadgenSettings
    from services.common.bus import EventProducer
    from services.common.topics import ensure_topics

    faults = build_faults(args)
    gen = TrafficGenerator(_config(args), faults)
    overrides = {}
    if args.bootstrap:
        overrides["kafka_bootstrap"] = args.bootstrap
    if args.topic_prefix is not None:
        overrides["topic_prefix"] = args.topic_prefix
    settings = LoadgenSettings(**overrides)
    if args.create_topics:
        ensure_topics(settings)
    stop = threading.Event()
    install_stop(stop)
    sender = Sender(EventProducer(settings))
    if args.start_at_ms is not None:
        # Ready before its turn: a process taking over from another one starts on the dot, no gap.
        stop.wait(max(0.0, (args.start_at_ms - time.time() * 1000) / 1000))
    print(
        f"loadgen: run {args.run_id or '-'}: {args.rate:g}/s for {args.duration:g} s, seed {args.seed}, to "
        f"{settings.kafka_bootstrap} {settings.topic('interactions.raw')}",
        file=sys.stderr,
    )
    for f in faults:
        print(f"loadgen: fault {f.describe()}", file=sys.stderr)
    stats = run_traffic(
        gen,
        sender,
        rate=args.rate,
        duration_s=args.duration,
        stop=stop,
        max_events=args.max_events,
        progress=None if args.quiet else sys.stderr,
    )
    print(json.dumps(stats.as_dict()), flush=True)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    gen = TrafficGenerator(_config(args), build_faults(args))
    for i in range(args.count):
        em = gen.next(i, i / args.rate, 1_700_000_000_000 + int(1000 * i / args.rate))
        doc = {"event": em.event, "applied": em.applied, "p_apply": round(em.p_apply, 4)}
        if em.raw is not None:
            doc["raw"] = em.raw.decode("utf-8", "replace")
        print(json.dumps(doc))
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    for name, cls in sorted(FAULTS.items()):
        window = "until the end" if cls.default_duration_s is None else f"{cls.default_duration_s:g} s"
        print(f"{name:<16} [{cls.kind}] {cls.summary} (default duration: {window})")
        for p, text in cls.params_help.items():
            print(f"{'':<18}{p}: {text}")
    return 0


def _traffic_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=7, help="same seed, same traffic (default 7)")
    p.add_argument("--rate", type=float, default=200.0, help="interactions per second (default 200)")
    p.add_argument("--members", type=int, default=5000)
    p.add_argument("--jobs", type=int, default=2000)
    p.add_argument("--zipf", type=float, default=1.0, help="job popularity skew (default 1.0)")
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulated seconds per real second; 720 plays one day in two minutes (default 1)",
    )
    p.add_argument("--start-hour", type=float, default=14.0, help="simulated UTC hour at start (default 14)")
    p.add_argument(
        "--clock-anchor-ms",
        type=int,
        default=None,
        metavar="EPOCH_MS",
        help="wall-clock time (epoch ms) at which the simulated clock reads --start-hour: the hour then "
        "follows each event's timestamp, continuous across restarts (default: from the run's start)",
    )
    p.add_argument(
        "--label-delay",
        type=float,
        nargs=2,
        default=(2.0, 5.0),
        metavar=("MIN", "MAX"),
        help="seconds before each outcome is sent as a label (default 2 5)",
    )
    p.add_argument("--run-id", default="", help="part of the event ids: a new run id gives fresh ids")
    p.add_argument("--fault", action="append", choices=sorted(FAULTS), help="inject a fault (repeatable)")
    p.add_argument("--fault-at", action="append", type=float, help="seconds into the run (one per --fault)")
    p.add_argument(
        "--fault-duration", action="append", type=float, help="seconds (one per --fault, in order; inf: until the end)"
    )
    p.add_argument("--fault-param", action="append", metavar="KEY=VALUE", help="fault parameter (repeatable)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="loadgen", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="send traffic and labels to Kafka")
    _traffic_args(run)
    run.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    run.add_argument("--max-events", type=int, default=None, help="stop after this many interactions")
    run.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (default AIG_KAFKA_BOOTSTRAP)")
    run.add_argument("--topic-prefix", default=None, help="topic name prefix (default AIG_TOPIC_PREFIX)")
    run.add_argument("--create-topics", action="store_true", help="create missing topics first")
    run.add_argument(
        "--start-at-ms",
        type=int,
        default=None,
        metavar="EPOCH_MS",
        help="get ready, then start sending at this wall-clock time (epoch ms)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    run.set_defaults(func=cmd_run)
    sample = sub.add_parser("sample", help="print generated events as JSON lines (no Kafka)")
    _traffic_args(sample)
    sample.add_argument("--count", type=int, default=10)
    sample.set_defaults(func=cmd_sample)
    sub.add_parser("scenarios", help="list the faults").set_defaults(func=cmd_scenarios)
    from loadgen.demo import add_parser as add_demo

    add_demo(sub)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "rate", 1.0) <= 0:
        print("loadgen: --rate must be > 0", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except FaultError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

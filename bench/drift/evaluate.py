"""Drift detector evaluation: detection rate, delay and false alarms on streams with known changes.

    .venv/bin/python -m bench.drift.evaluate [--seeds N] [--quick] [--out results.json]

Our detectors run with the settings of services/drift/thresholds.yaml; river's detectors run at their
defaults on the very same streams. A detection is the first alarm at or after the change (within the
post-change segment); its delay counts events from the first changed event. Every alarm before the
change, and every alarm on a stable stream, is a false alarm; rates are per 100,000 stable events.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from river.drift import ADWIN, PageHinkley
from river.drift.binary import DDM

from bench.drift import streams as st
from services.drift.config import DEFAULT_PATH, Thresholds, load_thresholds
from services.drift.detectors import create

Step = Callable[[float], bool]
OURS = "ours"


def _river(det: ADWIN | PageHinkley | DDM, binary: bool = False) -> Step:
    def step(x: float) -> bool:
        det.update(bool(x) if binary else x)  # type: ignore[no-untyped-call]  # river: unannotated, via a union
        return bool(det.drift_detected)

    return step


def numeric_detectors(th: Thresholds) -> dict[str, Callable[[], Step]]:
    def ours() -> Step:
        det = create("numeric", "x", th.defaults.numeric)
        return lambda x: det.update(x) is not None

    return {
        OURS: ours,
        "river ADWIN()": lambda: _river(ADWIN()),
        "river PageHinkley()": lambda: _river(PageHinkley()),
    }


def error_detectors(th: Thresholds) -> dict[str, Callable[[], Step]]:
    def ours() -> Step:
        det = create("error_rate", "model", th.error)
        return lambda e: det.update(bool(e)) is not None

    return {
        OURS: ours,
        "river DDM()": lambda: _river(DDM(), binary=True),
        "river ADWIN()": lambda: _river(ADWIN()),
    }


@dataclass
class Tally:
    streams: int = 0
    detected: int = 0
    delays: list[int] = field(default_factory=list)
    false_alarms: int = 0
    stable_events: int = 0
    delay_by_stream: dict[str, int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        self.streams += other.streams
        self.detected += other.detected
        self.delays += other.delays
        self.false_alarms += other.false_alarms
        self.stable_events += other.stable_events
        self.delay_by_stream |= other.delay_by_stream

    def summary(self) -> dict[str, float | int | None]:
        ds = sorted(self.delays)
        return {
            "streams": self.streams,
            "detection_rate": self.detected / self.streams if self.streams else None,
            "median_delay": statistics.median(ds) if ds else None,
            "p90_delay": ds[min(len(ds) - 1, int(0.9 * len(ds)))] if ds else None,
            "false_alarms": self.false_alarms,
            "stable_events": self.stable_events,
            "false_alarms_per_100k": 1e5 * self.false_alarms / self.stable_events if self.stable_events else None,
        }


def run_stream(stream: st.Stream, make: Callable[[], Step]) -> Tally:
    step = make()
    t = Tally(streams=1 if stream.change_at is not None else 0)
    cp = stream.change_at if stream.change_at is not None else len(stream.values)
    t.stable_events = cp
    for i, x in enumerate(stream.values):
        if step(x):
            if i < cp:
                t.false_alarms += 1
            else:
                t.detected = 1
                t.delays.append(i - cp)
                t.delay_by_stream[f"{stream.scenario}/{stream.seed}"] = i - cp
                break
    return t


def evaluate(seeds: int, null_len: int, post: int, th: Thresholds, log: Callable[[str], None]) -> dict[str, Any]:
    families: dict[str, dict[str, dict[str, Tally]]] = {"numeric": {}, "error": {}}
    makers = {"numeric": numeric_detectors(th), "error": error_detectors(th)}

    def record(family: str, stream: st.Stream) -> None:
        for name, make in makers[family].items():
            families[family].setdefault(stream.scenario, {}).setdefault(name, Tally()).add(run_stream(stream, make))

    t0 = time.perf_counter()
    for seed in range(seeds):
        for name, kind, mag, width in st.NUMERIC_SCENARIOS:
            record("numeric", st.numeric_stream(name, kind, mag, width, seed, post))
        record("numeric", st.stable_numeric(seed, null_len))
    log(f"numeric streams done in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    for seed in range(seeds):
        for name, kind, width in st.ERROR_SCENARIOS:
            record("error", st.error_stream(name, kind, width, seed, post))
        for kind in ("sea", "agrawal", "hyperplane", "label_function"):
            record("error", st.stable_error(kind, seed, null_len // 2))
    log(f"error streams done in {time.perf_counter() - t0:.1f}s")
    return families


def _cell(s: dict[str, Any]) -> str:
    rate = s["detection_rate"]
    det = "" if rate is None else f"{rate:4.0%}"
    med = "-" if s["median_delay"] is None else f"{s['median_delay']:.0f}"
    p90 = "-" if s["p90_delay"] is None else f"{s['p90_delay']:.0f}"
    fa = s["false_alarms"]
    return f"{det:>4} {med:>5} {p90:>5} {fa:>3}"


def report(families: dict[str, dict[str, dict[str, Tally]]]) -> tuple[dict[str, Any], list[tuple[str, bool]]]:
    out: dict[str, Any] = {}
    checks: list[tuple[str, bool]] = []
    for family, scenarios in families.items():
        names = list(next(iter(scenarios.values())))
        print(f"\n== {family} path: per scenario (detection rate, median delay, p90 delay, false alarms)")
        print(f"{'scenario':<24}" + "".join(f"| {n:<21}" for n in names))
        totals = {n: Tally() for n in names}
        out[family] = {"scenarios": {}, "overall": {}}
        for scenario, by_det in scenarios.items():
            row = f"{scenario:<24}"
            out[family]["scenarios"][scenario] = {}
            for n in names:
                s = by_det[n].summary()
                out[family]["scenarios"][scenario][n] = s
                totals[n].add(by_det[n])
                row += f"| {_cell(s):<21}"
            print(row)
        print(f"\n== {family} path: overall")
        print(
            f"{'detector':<22}{'detected':>10}{'median':>8}{'p90':>7}"
            f"{'false alarms':>14}{'stable events':>15}{'FA/100k':>9}"
        )
        for n in names:
            s = totals[n].summary()
            out[family]["overall"][n] = s
            print(
                f"{n:<22}{s['detection_rate']:>10.1%}{s['median_delay'] or 0:>8.0f}{s['p90_delay'] or 0:>7.0f}"
                f"{s['false_alarms']:>14}{s['stable_events']:>15}{s['false_alarms_per_100k']:>9.2f}"
            )
        ours = totals[OURS]
        o = ours.summary()
        if family == "numeric":
            for scenario, by_det in scenarios.items():
                parts = scenario.split("_")
                if len(parts) == 3 and parts[1] == "abrupt" and float(parts[2]) >= 1.0:
                    mine = by_det[OURS]
                    checks.append(
                        (
                            f"{family}: every abrupt {scenario} detected ({mine.detected}/{mine.streams})",
                            mine.detected == mine.streams,
                        )
                    )
        checks.append(
            (
                f"{family}: median delay {o['median_delay']} <= 300 events",
                o["median_delay"] is not None and o["median_delay"] <= 300,
            )
        )
        checks.append(
            (
                f"{family}: {o['false_alarms_per_100k']:.2f} false alarms per 100k stable events <= 1",
                o["false_alarms_per_100k"] is not None and o["false_alarms_per_100k"] <= 1.0,
            )
        )
        for n in names:
            if n == OURS:
                continue
            theirs = totals[n]
            both = sorted(set(ours.delay_by_stream) & set(theirs.delay_by_stream))
            if both:
                mo = statistics.median(ours.delay_by_stream[k] for k in both)
                mt = statistics.median(theirs.delay_by_stream[k] for k in both)
            else:
                mo = mt = float("nan")
            checks.append(
                (
                    f"{family}: median delay {mo:.0f} <= {n} {mt:.0f} on the {len(both)} changes both detected",
                    bool(both) and mo <= mt,
                )
            )
            fo, ft = o["false_alarms_per_100k"] or 0.0, theirs.summary()["false_alarms_per_100k"] or 0.0
            checks.append((f"{family}: false alarms {fo:.2f}/100k <= {n} {ft:.2f}/100k", fo <= ft))
            d_o, d_t = o["detection_rate"] or 0.0, theirs.summary()["detection_rate"] or 0.0
            out[family]["overall"][n]["paired_median_delay"] = mt
            out[family]["overall"][OURS][f"paired_median_delay_vs_{n}"] = mo
            checks.append((f"{family}: detection rate {d_o:.1%} >= {n} {d_t:.1%}", d_o >= d_t))
    return out, checks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seeds", type=int, default=None, help="seeds per scenario (default 20, quick 8)")
    ap.add_argument("--quick", action="store_true", help="fewer seeds and shorter stable streams (< 3 min)")
    ap.add_argument("--out", type=Path, default=None, help="write JSON results here")
    ap.add_argument("--thresholds", type=Path, default=DEFAULT_PATH)
    args = ap.parse_args(argv)
    seeds = args.seeds or (8 if args.quick else 20)
    null_len = 30_000 if args.quick else 60_000
    th = load_thresholds(args.thresholds)
    t0 = time.perf_counter()
    print(f"drift harness: {seeds} seeds, stable streams of {null_len} events, thresholds {args.thresholds}")
    families = evaluate(seeds, null_len, 2000, th, lambda m: print(m, flush=True))
    results, checks = report(families)
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'} {text}")
    elapsed = time.perf_counter() - t0
    print(f"\n{sum(ok for _, ok in checks)}/{len(checks)} checks pass; {elapsed:.0f}s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "seeds": seeds,
                    "stable_stream_len": null_len,
                    "elapsed_s": elapsed,
                    "results": results,
                    "checks": [{"check": t, "pass": ok} for t, ok in checks],
                },
                indent=2,
            )
        )
        print(f"results written to {args.out}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Log-classifier throughput: lines/s through the classify path (mask, Drain3, classify).

Two figures: a warm template cache (a realistic stream: a few dozen distinct templates with varying
numbers, ids and hosts) and all-new templates (every line a phrasing never seen, so every line is
embedded). Run: .venv/bin/python -m bench.logclassifier.throughput [--lines N] [--new N]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from services.logclassifier.build import build_classifier
from services.logclassifier.classifier import load_jsonl
from services.logclassifier.settings import DATA_DIR, LogClassifierSettings

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]


def warm_lines(seeds: list[str], n: int, rng: random.Random) -> list[str]:
    """Seeds with their variable parts changed, as a live stream of recurring errors looks."""
    out = []
    for i in range(n):
        s = rng.choice(seeds)
        host = f"127.0.0.{rng.randrange(1, 250)}:{rng.randrange(1024, 65000)}"
        out.append(
            f"{s} (request {rng.randrange(10**6)} from {host}"
            f" id {rng.getrandbits(64):016x} after {rng.random() * 100:.1f} ms #{i})"
        )
    return out


def new_lines(seeds: list[str], n: int, rng: random.Random) -> list[str]:
    """Every line a new phrasing: random words change the template and the embedding input."""
    return [f"{rng.choice(seeds)} {' '.join(rng.sample(WORDS, 4))}" for _ in range(n)]


def run(lines: list[str], lc: object, batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(lines), batch):
        lc.classify(lines[i : i + batch])  # type: ignore[attr-defined]
    return len(lines) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=50_000, help="lines for the warm-cache run")
    parser.add_argument("--new", type=int, default=1_000, help="lines for the all-new-templates run")
    parser.add_argument("--batch", type=int, default=500, help="lines per batch (the service's poll batch)")
    args = parser.parse_args()
    rng = random.Random(7)
    settings = LogClassifierSettings()
    seeds = [r["text"] for r in load_jsonl(DATA_DIR / "testset.jsonl")][:40]
    lc = build_classifier(settings, persistent=False)
    warm = warm_lines(seeds, args.lines, rng)
    lc.classify(warm[:2000])  # warm up: every seed template mined and embedded once
    warm_rate = run(warm, lc, args.batch)
    misses_before = lc.classifier.cache_misses
    new_rate = run(new_lines(seeds, args.new, rng), lc, args.batch)
    print(
        json.dumps(
            {
                "warm_lines": args.lines,
                "warm_lines_per_s": round(warm_rate),
                "new_template_lines": args.new,
                "new_template_lines_per_s": round(new_rate),
                "embedded_in_new_run": lc.classifier.cache_misses - misses_before,
                "templates": lc.templates.size,
                "goal_warm_lines_per_s": 5000,
            }
        )
    )


if __name__ == "__main__":
    main()

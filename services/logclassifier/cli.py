"""Offline triage, next to the service: `classify` log lines to JSON, `evaluate` on the labelled test set.

python -m services.logclassifier.cli classify app.log
python -m services.logclassifier.cli evaluate [--errors]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from services.logclassifier.classifier import ROOT_CAUSES, load_jsonl
from services.logclassifier.settings import DATA_DIR, LogClassifierSettings

if TYPE_CHECKING:
    from services.logclassifier.handlers import LogClassifier

BATCH = 256


def _batches(stream: TextIO) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in stream:
        batch.append(line.rstrip("\r\n"))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def cmd_classify(args: argparse.Namespace, settings: LogClassifierSettings) -> int:
    from services.logclassifier.build import build_classifier

    lc = build_classifier(settings, persistent=False)
    if args.file in (None, "-"):
        _classify_stream(lc, sys.stdin)
    else:
        with open(args.file, encoding="utf-8", errors="replace") as stream:
            _classify_stream(lc, stream)
    return 0


def _classify_stream(lc: LogClassifier, stream: TextIO) -> None:
    for batch in _batches(stream):
        for r in lc.classify(batch):
            print(json.dumps(r.as_dict(), ensure_ascii=False), flush=False)


def evaluate(settings: LogClassifierSettings, testset: Path) -> dict[str, object]:
    """Macro-F1 and per-class scores on a labelled set; `unknown` is always a wrong answer."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from services.logclassifier.build import build_classifier

    rows = load_jsonl(testset)
    lc = build_classifier(settings, persistent=False)
    preds = [r.root_cause for r in lc.classify([row["text"] for row in rows])]
    truth = [row["label"] for row in rows]
    labels = [c for c in ROOT_CAUSES if c in truth]
    p, r, f, n = precision_recall_fscore_support(truth, preds, labels=labels, zero_division=0)
    errors = [
        {"text": row["text"][:160], "label": t, "predicted": y}
        for row, t, y in zip(rows, truth, preds, strict=True)
        if t != y
    ]
    return {
        "n": len(rows),
        "macro_f1": float(f.mean()),
        "accuracy": sum(t == y for t, y in zip(truth, preds, strict=True)) / len(rows),
        "unknown": preds.count("unknown"),
        "per_class": {
            c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(n[i])}
            for i, c in enumerate(labels)
        },
        "confusion_labels": [*labels, "unknown"],
        "confusion": confusion_matrix(truth, preds, labels=[*labels, "unknown"]).tolist(),
        "errors": errors,
    }


def cmd_evaluate(args: argparse.Namespace, settings: LogClassifierSettings) -> int:
    if args.no_prior:
        settings = settings.model_copy(update={"keyword_prior_weight": 0.0})
    res = evaluate(settings, Path(args.testset))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(
        f"test set: {args.testset} ({res['n']} lines), threshold {settings.confidence_threshold}, "
        f"keyword prior weight {settings.keyword_prior_weight}"
    )
    print(f"{'class':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    per_class = res["per_class"]
    assert isinstance(per_class, dict)
    for c, s in per_class.items():
        print(f"{c:<24}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>10.3f}{s['support']:>9d}")
    print(f"macro-F1 {res['macro_f1']:.3f}  accuracy {res['accuracy']:.3f}  unknown {res['unknown']}")
    if args.errors:
        errors = res["errors"]
        assert isinstance(errors, list)
        for e in errors:
            print(f"  {e['label']:>22} -> {e['predicted']:<22} {e['text']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.logclassifier.cli", description=__doc__)
    sub = parser.add_subparsers(dest="cmd")
    c = sub.add_parser("classify", help="classify log lines (one per line) to JSON lines")
    c.add_argument("file", nargs="?", default="-", help="a log file, or - for stdin")
    e = sub.add_parser("evaluate", help="macro-F1 and per-class precision/recall/F1 on a labelled set")
    e.add_argument("--testset", default=str(DATA_DIR / "testset.jsonl"))
    e.add_argument("--no-prior", action="store_true", help="embeddings only (no keyword prior)")
    e.add_argument("--errors", action="store_true", help="list the misclassified lines")
    e.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.cmd is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = LogClassifierSettings()
    return cmd_classify(args, settings) if args.cmd == "classify" else cmd_evaluate(args, settings)


if __name__ == "__main__":
    sys.exit(main())

"""The classification path shared by the service and the CLI: clean, mask, mine, classify, aggregate.

No Kafka here: the service hands decoded LogRecord events in and gets Incident records out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.bus import Event, Out
from services.logclassifier import metrics
from services.logclassifier.aggregator import BurstAggregator, Classified
from services.logclassifier.classifier import UNKNOWN, ExemplarClassifier
from services.logclassifier.masking import prepare
from services.logclassifier.templates import TemplateStore

log = logging.getLogger(__name__)
LEVELS = {"DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "CRITICAL": 50, "FATAL": 50}


@dataclass(frozen=True)
class LineResult:
    """What the classifier says about one line."""

    text: str
    masked: str
    template: str
    root_cause: str
    confidence: float
    best: str
    problem: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "root_cause": self.root_cause,
            "confidence": self.confidence,
            "best_guess": self.best,
            "template": self.template,
            "masked": self.masked,
            "problem": self.problem,
            "text": self.text[:2000],
        }


class LogClassifier:
    """Lines in, root causes out; owns the template store and the calibrated classifier."""

    def __init__(self, classifier: ExemplarClassifier, templates: TemplateStore, max_chars: int = 2000) -> None:
        self.classifier = classifier
        self.templates = templates
        self.max_chars = max_chars

    def classify(self, messages: Sequence[object], tracebacks: Sequence[str | None] | None = None) -> list[LineResult]:
        """Classify a batch (one embedding call for all lines not cached yet)."""
        tbs = tracebacks or [None] * len(messages)
        prepared = [prepare(m, tb, self.max_chars) for m, tb in zip(messages, tbs, strict=True)]
        masked = [self.templates.mask(p.text) if p.text else "" for p in prepared]
        mined = [self.templates.add_masked(m) if m else ("", -1) for m in masked]
        todo = [m for m in masked if m]
        hits_before = self.classifier.cache_hits
        preds = iter(self.classifier.predict(todo)) if todo else iter(())
        metrics.CACHE.labels("hit").inc(self.classifier.cache_hits - hits_before)
        metrics.CACHE.labels("miss").inc(len(todo) - (self.classifier.cache_hits - hits_before))
        metrics.TEMPLATES.set(self.templates.size)
        out = []
        for p, m, (template, _cid) in zip(prepared, masked, mined, strict=True):
            if not m:
                out.append(LineResult(p.text, "", "", UNKNOWN, 0.0, UNKNOWN, p.problem))
                continue
            pred = next(preds)
            out.append(LineResult(p.text, m, template, pred.root_cause, pred.confidence, pred.best, p.problem))
        return out


LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: a later time cannot even be written as a date


def _ts_ms(value: object, fallback: int) -> int:
    """The record's time, or the Kafka timestamp when it has none a date can hold."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, int | float) and 0 < value <= LATEST_MS:
        return int(value)
    return fallback


class LogRecordHandler:
    """Turns batches of LogRecord events into Incident outputs."""

    def __init__(
        self,
        classifier: LogClassifier,
        aggregator: BurstAggregator,
        own_service: str,
        known_services: Sequence[str],
        min_level: str = "WARNING",
        echo_loggers: Sequence[str] = (),
    ) -> None:
        self.lines = classifier
        self.aggregator = aggregator
        self.own_service = own_service
        self.known = set(known_services)
        self.min_level = LEVELS.get(min_level.upper(), 30)
        self.echo_loggers = set(echo_loggers)
        self.incidents = 0

    def handle_batch(self, events: list[Event]) -> list[Out]:
        todo: list[tuple[Event, str, int]] = []
        for e in events:
            v = e.value
            service = str(v.get("service") or "").strip()[:100]
            if not service:
                metrics.BAD_INPUT.labels("unknown_service").inc()
                service = "unknown"
            elif service == self.own_service:
                # Our own warnings (e.g. about bad input) would otherwise feed back into this loop.
                metrics.BAD_INPUT.labels("own_record").inc()
                continue
            elif service not in self.known:
                metrics.BAD_INPUT.labels("unknown_service").inc()
            level = LEVELS.get(str(v.get("level") or "").upper(), 40)
            if level < self.min_level or v.get("logger") in self.echo_loggers:
                metrics.RECORDS.labels("benign").inc()
                continue
            todo.append((e, service, _ts_ms(v.get("ts"), e.timestamp_ms)))
        if not todo:
            return []
        results = self.lines.classify(
            [e.value.get("message") for e, _, _ in todo], [e.value.get("traceback") for e, _, _ in todo]
        )
        outs: list[Out] = []
        latest = 0
        for (e, service, ts), r in zip(todo, results, strict=True):
            latest = max(latest, ts)
            if r.problem:
                metrics.BAD_INPUT.labels(r.problem).inc()
            if r.problem in ("empty", "binary"):
                continue  # nothing to classify; counted above
            metrics.RECORDS.labels(r.root_cause).inc()
            rec = Classified(
                str(e.value.get("event_id") or f"{e.topic}:{e.partition}:{e.offset}"),
                ts,
                service,
                r.root_cause,
                r.confidence,
                r.template,
                r.text,
            )
            incident = self.aggregator.add(rec)
            if incident is not None:
                self.incidents += 1
                metrics.INCIDENTS.labels(r.root_cause).inc()
                outs.append(Out("incidents", incident, key=incident["fingerprint"]))
                log.info("incident %s: %s", incident["fingerprint"], incident["summary"])
        self.aggregator.forget_older_than(latest)
        return outs

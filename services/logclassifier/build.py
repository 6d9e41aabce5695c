"""Assembles the classifier from settings (used by the service, the CLI and the benchmark)."""

from __future__ import annotations

import logging
import time

from services.logclassifier.classifier import Embedder, ExemplarClassifier, load_jsonl
from services.logclassifier.handlers import LogClassifier
from services.logclassifier.masking import mask, prepare
from services.logclassifier.settings import LogClassifierSettings
from services.logclassifier.templates import TemplateStore

log = logging.getLogger(__name__)


def build_classifier(
    settings: LogClassifierSettings, *, persistent: bool = True, embedder: Embedder | None = None
) -> LogClassifier:
    """Load the model offline, fit on the exemplars, open the template store."""
    started = time.perf_counter()
    embedder = embedder or Embedder(settings.model_path)
    rows = load_jsonl(settings.exemplars_path)
    texts = [mask(prepare(r["text"], None, settings.max_message_chars).text) for r in rows]
    clf = ExemplarClassifier(
        embedder,
        threshold=settings.confidence_threshold,
        prior_weight=settings.keyword_prior_weight,
        cache_size=settings.embedding_cache_size,
    ).fit(texts, [r["label"] for r in rows])
    templates = TemplateStore.from_settings(
        settings.drain_persistence if persistent else "none",
        settings.drain_state_path,
        settings.redis_url,
        settings.secret("redis_password"),
        f"{settings.topic_prefix}logclassifier:drain3",
        sim_th=settings.drain_sim_th,
        max_clusters=settings.drain_max_clusters,
        snapshot_interval_s=settings.snapshot_interval_s,
    )
    log.info(
        "classifier ready: %d exemplars, temperature %.2f, %d templates restored, %.1f s",
        len(rows),
        clf.temperature,
        templates.size,
        time.perf_counter() - started,
    )
    return LogClassifier(clf, templates, settings.max_message_chars)

"""Prometheus metrics of the trainer."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MODELS = Counter(
    "aig_trainer_models_total",
    "Model versions by outcome (live, rejected, rolled_back), refused commands",
    ["status"],
)
TRAINING_SECONDS = Histogram(
    "aig_trainer_training_seconds",
    "Fitting one candidate (LightGBM train + holdout evaluation)",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
)

"""Inference's own Prometheus metrics (the shared ones live in services.common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREDICTIONS = Counter("aig_inference_predictions_total", "Rows scored", ["path"])
PREDICT_SECONDS = Histogram(
    "aig_inference_predict_seconds",
    "Time to encode and score one request or batch",
    ["path"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1),
)
REQUEST_ERRORS = Counter("aig_inference_request_errors_total", "Rejected /predict requests", ["status"])
MODEL_VERSION = Gauge("aig_inference_model_version", "Version of the model being served", ["model_name"])
MODEL_SWAPS = Counter("aig_inference_model_swaps_total", "Models loaded and swapped in", ["model_name"])
MODEL_LOAD_FAILURES = Counter(
    "aig_inference_model_load_failures_total", "Models that could not be loaded", ["model_name"]
)

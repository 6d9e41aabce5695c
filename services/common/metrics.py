"""Prometheus metrics shared by every service, declared once per process.

Services label them with their own name; service-specific metrics live in the service's package
with the prefix ``aig_<service>_``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter("aig_messages_in_total", "Messages consumed", ["service", "topic"])
MESSAGES_OUT = Counter("aig_messages_out_total", "Messages produced and acknowledged", ["service", "topic"])
MESSAGES_FAILED = Counter(
    "aig_messages_failed_total", "Messages dead-lettered, by reason", ["service", "topic", "reason"]
)
RETRIES = Counter("aig_handler_retries_total", "Handler retries after a retryable error", ["service", "topic"])
HANDLER_SECONDS = Histogram(
    "aig_handler_seconds",
    "Time to handle one batch (decode, handle, produce, deliver, commit)",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "aig_batch_size", "Messages per consumed batch", ["service"], buckets=(1, 5, 10, 50, 100, 250, 500, 1000)
)
CONSUMER_LAG = Gauge("aig_consumer_lag", "Messages behind the partition end", ["service", "topic", "partition"])
PRODUCE_ERRORS = Counter("aig_produce_errors_total", "Failed deliveries", ["service", "topic"])
LOG_RECORDS_DROPPED = Counter(
    "aig_log_records_dropped_total", "WARN+ log records not published to Kafka (queue full)", ["service"]
)
PAUSED = Gauge("aig_consumer_paused", "1 while consumption is paused (quarantine)", ["service"])

"""JSON logging to stdout, and WARN+ records published to the ``logs`` topic for the log-classifier.

Publishing never blocks the service: records go to librdkafka's local queue; when that is full
the record is counted as dropped. Records logged while publishing (and the Kafka client's own)
are never published again, so a broken broker cannot make logging recurse.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from services.common import metrics
from services.common.codec import AvroCodec, codec_for
from services.common.events import header
from services.common.settings import CommonSettings
from services.common.signing import sign_event

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, service, logger, msg, extras, exc."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class KafkaLogHandler(logging.Handler):
    """Publishes WARN+ records as LogRecord events, keyed by service."""

    _guard = threading.local()
    _skip_prefixes = ("confluent_kafka", "services.common.logs")

    def __init__(self, settings: CommonSettings, codec: AvroCodec | None = None) -> None:
        super().__init__(level=logging.WARNING)
        self.settings = settings
        self.codec = codec or codec_for(Path(settings.schemas_dir))
        self.topic = settings.topic("logs")
        self.host = socket.gethostname()
        self._producer = Producer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "linger.ms": 50,
                "queue.buffering.max.messages": 20_000,
                "message.timeout.ms": 30_000,
                "client.id": f"{settings.service_name}-logs",
            }
        )

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._guard, "active", False) or record.name.startswith(self._skip_prefixes):
            return
        self._guard.active = True
        try:
            self._producer.produce(self.topic, self._encode(record), self.settings.service_name.encode())
            self._producer.poll(0)
        except BufferError:
            metrics.LOG_RECORDS_DROPPED.labels(self.settings.service_name).inc()
        except Exception:
            self.handleError(record)
        finally:
            self._guard.active = False

    def _encode(self, record: logging.LogRecord) -> bytes:
        exc_type = tb = None
        if record.exc_info and record.exc_info[0] is not None:
            exc_type = record.exc_info[0].__name__
            tb = "".join(traceback.format_exception(*record.exc_info))[-20_000:]
        value = {
            **header(self.settings.service_name),
            "service": self.settings.service_name,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage()[:20_000],
            "exc_type": exc_type,
            "traceback": tb,
            "host": self.host,
            "container": None,
        }
        if self.settings.secret("command_key"):  # unsigned, the log-classifier refuses it (and says why)
            value = sign_event("logs", value, self.settings)
        return self.codec.encode("LogRecord", value)

    def close(self) -> None:
        try:
            self._producer.flush(2.0)
        finally:
            super().close()


# Chatty libraries kept at WARNING. httpx and httpcore would log every request URL at INFO/DEBUG, and
# a URL can carry a token (an alert webhook's does).
QUIET_LOGGERS = ("uvicorn.access", "httpx", "httpcore", "aiokafka", "faust", "mode")


def setup_logging(settings: CommonSettings, *, to_kafka: bool | None = None) -> KafkaLogHandler | None:
    """Configure the root logger; returns the Kafka handler (close it at shutdown) if enabled."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.setLevel(settings.log_level.upper())
    stdout = logging.StreamHandler(sys.stdout)
    stdout.setFormatter(JsonFormatter(settings.service_name))
    root.addHandler(stdout)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    kafka_handler = None
    if settings.log_to_kafka if to_kafka is None else to_kafka:
        kafka_handler = KafkaLogHandler(settings)
        root.addHandler(kafka_handler)
    return kafka_handler

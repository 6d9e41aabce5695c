"""Signed control events: incidents, model events and log records carry an HMAC of what they say.

These topics steer the guard: an incident makes the healer act (restart, retrain, quarantine), a model
event makes inference load and drift reset its references, a log record can become an incident. Anyone
who can write to Kafka could otherwise forge them. Every producer of the guard signs them with
``AIG_COMMAND_KEY`` as they are encoded (:class:`services.common.bus.EventProducer` and the Kafka log
handler do it for every record of these topics), and every consumer that acts on them refuses, with
the reason, a record that is unsigned or whose signature does not match.

The signature covers a fixed list of fields per topic, normalised (numbers as doubles, times as epoch
milliseconds, maps sorted), so it survives the Avro round trip and the resolution to a newer reader
schema. A field added to a schema later is signed only once it is added to the list here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from services.common.bus.errors import ContractError
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)

GUARD = "guard"  # the signer of every control event: the key the guard's services share
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "incidents": (
        "event_id",
        "ts",
        "source",
        "incident_id",
        "fingerprint",
        "type",
        "root_cause",
        "service",
        "target",
        "severity",
        "summary",
        "explanation",
        "count",
        "first_seen",
        "last_seen",
        "evidence",
        "signer",
    ),
    "model.events": (
        "event_id",
        "ts",
        "source",
        "model_name",
        "version",
        "status",
        "previous_version",
        "artifact_uri",
        "metrics",
        "params",
        "reason",
        "profile",
        "command_id",
        "signer",
    ),
    "logs": (
        "event_id",
        "ts",
        "source",
        "service",
        "level",
        "logger",
        "message",
        "exc_type",
        "traceback",
        "host",
        "container",
        "signer",
    ),
}
SIGNED_TOPICS = frozenset(SIGNED_FIELDS)
REFUSED = Counter(
    "aig_events_refused_total", "Control events refused as unauthenticated", ["service", "topic", "reason"]
)


class UnsignedEvent(ContractError):
    """A control event that is unsigned or whose signature does not match (dead-lettered with the reason)."""


def _normal(value: Any) -> Any:
    """One form for a value on both sides of the Avro round trip."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return float(int(value.timestamp() * 1000))
    if isinstance(value, Mapping):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    return float(value)  # int, float and numpy numbers alike: Avro turns some ints into doubles


def canonical_event(topic: str, record: Mapping[str, Any]) -> bytes:
    body = {name: _normal(record.get(name)) for name in SIGNED_FIELDS[topic]}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def _mac(topic: str, record: Mapping[str, Any], key: str) -> str:
    return hmac.new(key.encode("utf-8"), canonical_event(topic, record), hashlib.sha256).hexdigest()


def sign_event(topic: str, record: Mapping[str, Any], settings: CommonSettings) -> dict[str, Any]:
    """``record`` of logical ``topic`` signed with the guard's key; UnsignedEvent when no key is configured."""
    key = settings.secret("command_key")
    if not key:
        raise UnsignedEvent(f"cannot sign {topic} events: AIG_COMMAND_KEY is not set")
    signed = {**record, "signer": GUARD}
    signed["signature"] = _mac(topic, signed, key)
    return signed


def authenticate_event(topic: str, record: Mapping[str, Any], settings: CommonSettings) -> None:
    """Refuse (raise UnsignedEvent, count, log) a control event not signed with the key this service holds."""
    signature, signer = record.get("signature"), record.get("signer")
    what = f"{topic} event {record.get('event_id')!r} from {record.get('source')!r}"
    reason = ""
    key = settings.secret("command_key")
    if not signature or signer != GUARD:
        reason, why = "unsigned", f"unsigned {what} refused: control events must be signed (AIG_COMMAND_KEY)"
    elif not key:
        reason, why = "no_key", f"{what} refused: this service holds no key to check it (AIG_COMMAND_KEY)"
    elif not hmac.compare_digest(str(signature).encode("utf-8", "surrogatepass"), _mac(topic, record, key).encode()):
        reason, why = "bad_signature", f"{what} refused: its signature does not match"
    if reason:
        REFUSED.labels(settings.service_name, topic, reason).inc()
        log.warning("control event refused (%s): %s", reason, why)
        raise UnsignedEvent(why)

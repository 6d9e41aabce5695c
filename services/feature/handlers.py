"""Feature logic: sliding-window counts, the FeatureVector, online hashes and offline rows. No I/O."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from services.common.events import derived_id
from services.common.model.features import CATEGORICAL_FEATURES, RAW_NUMERIC, online_keys

BUCKETS_PER_WINDOW = 10
MEMBER_WINDOW_MS, MEMBER_BUCKET_MS = 3_600_000, 360_000  # defaults: the last hour, 6-minute hops
JOB_WINDOW_MS, JOB_BUCKET_MS = 600_000, 60_000  # defaults: the last 10 minutes, 1-minute hops


def window_ms(window_s: int) -> tuple[int, int]:
    """(window, bucket) in milliseconds for a window of ``window_s`` seconds cut in BUCKETS_PER_WINDOW hops."""
    if window_s <= 0:
        raise ValueError("a window must last at least one second")
    return window_s * 1000, window_s * 1000 // BUCKETS_PER_WINDOW


Buckets = dict[str, int]  # bucket start (epoch ms, as text: JSON keys) -> count


def add_to_window(buckets: Buckets | None, ts_ms: int, window_ms: int, bucket_ms: int) -> tuple[Buckets, int]:
    """Count one event at ``ts_ms`` in a hopping window kept as a ring of buckets; returns (state, count).

    The count covers the ``window_ms / bucket_ms`` buckets ending with the event's bucket. One
    table value per key holds the ring, so each event writes one changelog record instead of one
    per overlapping window. Buckets older than the window of the newest event are pruned; an event
    later than that is not counted (too late) but still gets the count of its own window.
    """
    if window_ms <= 0 or bucket_ms <= 0 or window_ms % bucket_ms:
        raise ValueError("window_ms must be a positive multiple of bucket_ms")
    state = {int(k): int(v) for k, v in (buckets or {}).items()}
    mine = ts_ms - ts_ms % bucket_ms
    newest = max([mine, *state])
    oldest_kept = newest - window_ms + bucket_ms
    if mine >= oldest_kept:
        state[mine] = state.get(mine, 0) + 1
    state = {k: v for k, v in state.items() if k >= oldest_kept}
    count = sum(v for k, v in state.items() if mine - window_ms < k <= mine)
    return {str(k): v for k, v in state.items()}, count


def hour_circle(hour: int) -> tuple[float, float]:
    angle = 2 * math.pi * (hour % 24) / 24
    return math.sin(angle), math.cos(angle)


def feature_vector(
    interaction: dict[str, Any], member_views: int, job_views: int, source: str, now_ms: int
) -> dict[str, Any]:
    """The model-ready FeatureVector of one interaction; its event_id derives from the interaction (replays dedupe)."""
    numeric: dict[str, float | None] = {}
    for name in RAW_NUMERIC:
        v = interaction.get(name)
        numeric[name] = float(v) if v is not None else None
    numeric["remote"] = 1.0 if interaction.get("remote") else 0.0
    numeric["hour_sin"], numeric["hour_cos"] = hour_circle(int(interaction["hour_of_day"]))
    numeric["member_views"] = float(member_views)
    numeric["job_views"] = float(job_views)
    return {
        "event_id": derived_id("feature", interaction["event_id"]),
        "ts": now_ms,
        "source": source,
        "interaction_id": interaction["event_id"],
        "member_id": interaction["member_id"],
        "job_id": interaction["job_id"],
        "interaction_ts": int(interaction["ts"]),
        "numeric": numeric,
        "categorical": {name: str(interaction[name]) for name in CATEGORICAL_FEATURES},
    }


def _text(value: Any) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def online_hashes(fv: dict[str, Any], prefix: str) -> dict[str, dict[str, str]]:
    """Redis hashes (key -> field -> text) so a /predict request with only ids finds the latest features."""
    values = {**fv["numeric"], **fv["categorical"]}
    stamp = str(fv["interaction_ts"])

    def pick(names: tuple[str, ...]) -> dict[str, str]:
        return {**{n: _text(values.get(n)) for n in names}, "updated_ms": stamp}

    return {key: pick(names) for key, names in online_keys(prefix, fv["member_id"], fv["job_id"]).items()}


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def feature_row(fv: dict[str, Any]) -> tuple[str, str, str, datetime, dict[str, Any], dict[str, str]]:
    """A feature_rows row (interaction_id, member_id, job_id, ts, numeric, categorical)."""
    numeric = {k: (v if v is None or math.isfinite(v) else None) for k, v in fv["numeric"].items()}
    return (
        fv["interaction_id"],
        fv["member_id"],
        fv["job_id"],
        _utc(fv["interaction_ts"]),
        numeric,
        dict(fv["categorical"]),
    )


def label_row(label: dict[str, Any]) -> tuple[str, bool, datetime]:
    """A labels row (interaction_id, applied, ts)."""
    return (label["interaction_id"], bool(label["applied"]), _utc(label["ts"]))

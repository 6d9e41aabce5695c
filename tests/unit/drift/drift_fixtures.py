"""Event builders for the drift unit tests (plain dicts shaped like the Avro records)."""

from __future__ import annotations

from typing import Any

import numpy as np

from services.drift.config import Thresholds, load_thresholds
from services.drift.handlers import DriftMonitor
from services.drift.join import MemoryPendingStore

T0 = 1_700_000_000_000


def thresholds(**incident: Any) -> Thresholds:
    th = load_thresholds()
    return th.model_copy(update={"incident": th.incident.model_copy(update=incident)}) if incident else th


def monitor(live: bool = True, **incident: Any) -> DriftMonitor:
    """A monitor; with ``live`` a first model (v1, no profile) is already serving, as in production."""
    mon = DriftMonitor(thresholds(**incident), MemoryPendingStore())
    if live:
        mon.handle("model.events", model_live(1))
    return mon


def fv(i: int, numeric: dict[str, float | None], categorical: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "event_id": f"f-{i}",
        "ts": T0 + i * 10,
        "source": "feature",
        "interaction_id": f"i-{i}",
        "member_id": f"m-{i % 97}",
        "job_id": f"j-{i % 13}",
        "interaction_ts": T0 + i * 10,
        "numeric": numeric,
        "categorical": categorical or {},
    }


def prediction(i: int, score: float, version: int = 1, interaction_ts: int | None = None) -> dict[str, Any]:
    return {
        "event_id": f"p-{i}",
        "ts": T0 + i * 10,
        "source": "inference",
        "interaction_id": f"i-{i}",
        "member_id": "m",
        "job_id": "j",
        "score": score,
        "model_name": "job_apply",
        "model_version": version,
        "latency_ms": 1.0,
        "interaction_ts": T0 + i * 10 if interaction_ts is None else interaction_ts,
    }


def label(i: int, applied: bool) -> dict[str, Any]:
    return {
        "event_id": f"l-{i}",
        "ts": T0 + i * 10 + 5,
        "source": "loadgen",
        "interaction_id": f"i-{i}",
        "member_id": "m",
        "applied": applied,
    }


def model_live(version: int, profile: list[dict[str, Any]] | None = None, ts: int = T0) -> dict[str, Any]:
    return {
        "event_id": f"mp-{version}",
        "ts": ts,
        "source": "trainer",
        "model_name": "job_apply",
        "version": version,
        "status": "live",
        "previous_version": None,
        "artifact_uri": f"file:///models/{version}",
        "metrics": {"auc": 0.8},
        "params": {},
        "reason": "",
        "profile": profile or [],
    }


def numeric_profile(name: str, values: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """The trainer's convention: interior quantile edges, len(fractions) == len(edges) + 1."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return {
        "feature": name,
        "kind": "numeric",
        "edges": [float(e) for e in edges],
        "categories": [],
        "fractions": [float(c) / len(values) for c in counts],
        "mean": float(values.mean()),
        "std": float(values.std()),
        "null_rate": 0.0,
    }

"""The drift monitor: pure logic that turns features, predictions, labels and model events into incidents.

No Kafka, Redis or clock here: events go in as decoded dicts, Incident records come out, the
pending-prediction store is injected. service.py wires it to the bus.

One shift gives one incident: each detector has a warm-up, confirms a change before signalling
and re-baselines afterwards (hysteresis), and a per-fingerprint cooldown swallows repeats.
Detectors reset when a new model goes live; distribution detectors start with the first live model.
Bad input is counted (``stats`` and Prometheus) and
skipped, never raised.
"""

from __future__ import annotations

import logging
import math
import pickle
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.events import derived_id, header
from services.drift import metrics
from services.drift.config import Thresholds
from services.drift.detectors.base import Signal
from services.drift.detectors.categorical import CategoricalDriftDetector
from services.drift.detectors.error_rate import ErrorRateDetector
from services.drift.detectors.numeric import NumericDriftDetector
from services.drift.detectors.quality import QualityDetector
from services.drift.detectors.skew import ProfileError, SkewDetector
from services.drift.join import PendingStore

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
SERVICE_SUFFERING = "inference"  # drift hurts the model's predictions

EXPLANATIONS = {
    "data_drift": (
        "The live distribution of this feature changed compared with its recent baseline. Likely cause: a "
        "change in the population or in an upstream producer. Suggested action: check the upstream source; "
        "if the new distribution is legitimate, retrain the model on recent data."
    ),
    "concept_drift": (
        "The model's error rate on labelled predictions rose: the relation between features and outcome "
        "changed. Suggested action: retrain on recent labelled data, or roll back if a new model caused it."
    ),
    "skew": (
        "Live values of this feature do not match the training data of the live model (training-serving "
        "skew). Likely cause: a unit, scaling or encoding change between training and serving. Suggested "
        "action: fix the feature pipeline, or roll back to the previous model."
    ),
    "data_quality": (
        "Many values of this feature are missing or invalid. Likely cause: a broken upstream producer or "
        "parser. Suggested action: pause or quarantine ingest and fix the producer."
    ),
}


@dataclass
class FeatureState:
    """Every detector of one feature."""

    name: str
    kind: str  # numeric or categorical
    drift: NumericDriftDetector | CategoricalDriftDetector
    quality: QualityDetector | None = None
    skew: SkewDetector | None = None


@dataclass
class GateEntry:
    ts: int
    events: int
    count: int = 1


@dataclass
class MonitorState:
    """Everything a restart must not lose (pickled to the checkpoint)."""

    features: dict[str, FeatureState] = field(default_factory=dict)
    errors: dict[str, ErrorRateDetector] = field(default_factory=dict)
    live: dict[str, int] = field(default_factory=dict)  # model name -> live version
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # feature -> FeatureProfile
    gate: dict[str, GateEntry] = field(default_factory=dict)
    events: int = 0


class DriftMonitor:
    def __init__(self, thresholds: Thresholds, pending: PendingStore, source: str = "drift") -> None:
        self.th = thresholds
        self.pending = pending
        self.source = source
        self.state = MonitorState()
        self.stats: Counter[str] = Counter()

    # -- entry point ---------------------------------------------------------------------------
    def handle(self, topic: str, value: dict[str, Any]) -> list[dict[str, Any]]:
        """Feed one decoded event of a logical topic; returns the Incident records it caused."""
        self.state.events += 1
        if topic == "features":
            return self.on_features(value)
        if topic == "predictions":
            return self.on_prediction(value)
        if topic == "labels":
            return self.on_label(value)
        if topic == "model.events":
            return self.on_model_event(value)
        self._bad("unknown_topic", f"event on unexpected topic {topic!r}")
        return []

    # -- bad input ---------------------------------------------------------------------------------
    def _bad(self, reason: str, detail: str) -> None:
        self.stats[reason] += 1
        metrics.BAD_INPUT.labels(reason).inc()
        n = self.stats[reason]
        if n & (n - 1) == 0:  # log the 1st, 2nd, 4th, 8th... occurrence: visible, not a flood
            log.warning("drift input skipped: %s (%s, seen %d times)", detail, reason, n)

    # -- features ----------------------------------------------------------------------------------
    def _feature(self, name: str, kind: str) -> FeatureState | None:
        fs = self.state.features.get(name)
        if fs is not None:
            if fs.kind != kind:
                self._bad("feature_kind_changed", f"feature {name!r} arrived as {kind}, known as {fs.kind}")
                return None
            return fs
        if len(self.state.features) >= self.th.incident.max_features:
            self._bad(
                "too_many_features", f"feature {name!r} beyond the limit of {self.th.incident.max_features}"
            )
            return None
        cfg = self.th.for_feature(name)
        profile = self.state.profiles.get(name)
        if kind == "numeric":
            null_rate = float(profile.get("null_rate") or 0.0) if profile else None
            fs = FeatureState(
                name,
                kind,
                NumericDriftDetector(name, cfg.numeric),
                QualityDetector(name, cfg.quality, null_rate),
            )
        else:
            fs = FeatureState(name, kind, CategoricalDriftDetector(name, cfg.categorical))
        fs.skew = self._skew_for(name, kind, profile)
        self.state.features[name] = fs
        return fs

    def _skew_for(self, name: str, kind: str, profile: dict[str, Any] | None) -> SkewDetector | None:
        if profile is None:
            return None
        if profile.get("kind") != kind:
            self._bad(
                "bad_profile", f"profile of {name!r} is {profile.get('kind')!r}, live feature is {kind}"
            )
            return None
        try:
            return SkewDetector(name, profile, self.th.for_feature(name).skew)
        except ProfileError as exc:
            self._bad("bad_profile", str(exc))
            return None

    def on_features(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        numeric = v.get("numeric")
        categorical = v.get("categorical")
        if not isinstance(numeric, dict) or not isinstance(categorical, dict):
            self._bad(
                "malformed_features", f"FeatureVector {v.get('event_id')} without numeric/categorical maps"
            )
            return []
        ts = _ts(v)
        out: list[dict[str, Any]] = []
        for name, raw in numeric.items():
            fs = self._feature(str(name), "numeric")
            if fs is not None:
                out += self._numeric_value(fs, raw, v, ts)
        for name, raw in categorical.items():
            fs = self._feature(str(name), "categorical")
            if fs is None:
                continue
            if not isinstance(raw, str) or raw == "":
                self._bad("bad_categorical_value", f"categorical {name!r} = {raw!r}")
                continue
            drift = fs.drift
            assert isinstance(drift, CategoricalDriftDetector)
            moved = drift.update(raw) if self.state.live else None
            out += self._emit_all((moved, fs.skew.update(raw) if fs.skew else None), v, ts)
        for name, fs in self.state.features.items():
            present = numeric if fs.kind == "numeric" else categorical
            if name not in present:
                self._bad(
                    "missing_feature", f"FeatureVector {v.get('event_id')} lacks {fs.kind} feature {name!r}"
                )
                if fs.quality is not None:
                    out += self._emit_all((fs.quality.update("missing"),), v, ts)
        return out

    def _numeric_value(self, fs: FeatureState, raw: Any, v: dict[str, Any], ts: int) -> list[dict[str, Any]]:
        assert fs.quality is not None
        value: float | None
        if raw is None or (isinstance(raw, int | float) and not isinstance(raw, bool)):
            value = None if raw is None else float(raw)
        else:
            self._bad("bad_numeric_value", f"numeric {fs.name!r} = {raw!r}")
            value = math.nan
        reason = fs.quality.classify(value)
        signals: list[Signal | None] = [fs.quality.update(reason)]
        if reason:
            metrics.BAD_VALUES.labels(fs.name, reason).inc()
            self.stats[f"value_{reason}"] += 1
        if value is not None and math.isfinite(value):
            # Out-of-range values are a quality problem, not a distribution to learn. Before the first model
            # goes live there is no served distribution to protect (and windowed features are still filling
            # up): distribution detectors start with it, data quality is watched from the first event.
            if not reason and self.state.live:
                signals.append(fs.drift.update(value))  # type: ignore[arg-type]
            if fs.skew is not None:
                signals.append(fs.skew.update(value))
        return self._emit_all(signals, v, ts)

    # -- predictions, labels, the join ---------------------------------------------------------
    def on_prediction(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        iid = v.get("interaction_id")
        score = v.get("score")
        if not iid or not isinstance(score, int | float) or not math.isfinite(score):
            self._bad(
                "malformed_prediction", f"Prediction {v.get('event_id')} without interaction_id or score"
            )
            return []
        record = {
            "score": float(score),
            "model_name": str(v.get("model_name", "")),
            "model_version": int(v.get("model_version", -1)),
            "event_id": str(v.get("event_id", "")),
        }
        waiting = self.pending.take_label(str(iid))
        if waiting is None:
            self.pending.put_prediction(str(iid), record)
            return []
        return self._joined(record, waiting, v)

    def on_label(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        iid = v.get("interaction_id")
        applied = v.get("applied")
        if not iid or not isinstance(applied, bool):
            self._bad("malformed_label", f"Label {v.get('event_id')} without interaction_id or applied")
            return []
        pred = self.pending.take_prediction(str(iid))
        if pred is None:
            # Unknown now: its prediction may still come (other partition) or has expired. Parked, counted.
            self._bad("label_unknown_prediction", f"Label for interaction {iid} without a pending prediction")
            self.pending.put_label(str(iid), applied)
            return []
        return self._joined(pred, applied, v)

    def _joined(self, pred: dict[str, Any], applied: bool, v: dict[str, Any]) -> list[dict[str, Any]]:
        metrics.JOINED.inc()
        self.stats["joined"] += 1
        model = pred.get("model_name") or "model"
        live = self.state.live.get(model)
        if live is not None and pred.get("model_version") != live:
            self.stats["joined_stale_model"] += 1  # a label for the previous model says nothing of this one
            return []
        det = self.state.errors.get(model)
        if det is None:
            det = self.state.errors[model] = ErrorRateDetector(model, self.th.error)
        error = (pred["score"] >= self.th.error.decision_threshold) != applied
        return self._emit_all((det.update(error),), v, _ts(v), model=model)

    # -- model lifecycle -----------------------------------------------------------------------
    def on_model_event(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        if v.get("status") != "live":
            return []
        name = str(v.get("model_name", ""))
        version = v.get("version")
        if not name or not isinstance(version, int):
            self._bad(
                "malformed_model_event", f"ModelPublished {v.get('event_id')} without model_name/version"
            )
            return []
        if self.state.live.get(name) == version:
            return []  # a replay of the event that made this version live
        self.state.live[name] = version
        self.reset(v.get("profile") or [])
        metrics.RESETS.inc()
        log.info("model %s v%d live: drift detectors reset", name, version)
        return []

    def reset(self, profile: list[dict[str, Any]]) -> None:
        """Forget what was learnt: the new model is judged on fresh baselines and its own profile."""
        profiles: dict[str, dict[str, Any]] = {}
        for entry in profile:
            if not isinstance(entry, dict) or not entry.get("feature"):
                self._bad("bad_profile", "profile entry without a feature name")
                continue
            profiles[str(entry["feature"])] = entry
        self.state.profiles = profiles
        for fs in self.state.features.values():
            fs.drift.reset()
            p = profiles.get(fs.name)
            fs.skew = self._skew_for(fs.name, fs.kind, p)
            if fs.quality is not None:
                fs.quality = QualityDetector(
                    fs.name,
                    self.th.for_feature(fs.name).quality,
                    float(p.get("null_rate") or 0.0) if p else None,
                )
        for det in self.state.errors.values():
            det.reset()
        self.state.gate.clear()

    # -- incidents -----------------------------------------------------------------------------
    def _emit_all(
        self,
        signals: tuple[Signal | None, ...] | list[Signal | None],
        v: dict[str, Any],
        ts: int,
        model: str = "",
    ) -> list[dict[str, Any]]:
        out = []
        for s in signals:
            if s is not None:
                inc = self._incident(s, v, ts, model)
                if inc is not None:
                    out.append(inc)
        return out

    def _incident(self, s: Signal, v: dict[str, Any], ts: int, model: str) -> dict[str, Any] | None:
        fp = f"{s.kind}:{s.feature}"
        inc_cfg = self.th.incident
        last = self.state.gate.get(fp)
        if last is not None and (
            ts - last.ts < inc_cfg.cooldown_ms or self.state.events - last.events < inc_cfg.cooldown_events
        ):
            last.count += 1
            metrics.SUPPRESSED.labels(s.kind).inc()
            self.stats[f"suppressed_{s.kind}"] += 1
            return None
        self.state.gate[fp] = GateEntry(ts, self.state.events)
        metrics.INCIDENTS.labels(s.kind).inc()
        self.stats[f"incident_{s.kind}"] += 1
        event_id = derived_id("drift-incident", f"{fp}:{v.get('event_id', '')}")
        evidence = dict(s.evidence)
        live = self.state.live.get(model) if model else None
        if self.state.live:
            evidence.setdefault(
                "live_models", ",".join(f"{k}:v{n}" for k, n in sorted(self.state.live.items()))
            )
        if live is not None:
            evidence["model_version"] = str(live)
        evidence["summary"] = s.summary
        evidence["trigger_event_id"] = str(v.get("event_id", ""))
        return {
            **header(self.source, event_id=event_id, ts=ts),
            "incident_id": event_id,
            "fingerprint": fp,
            "type": s.kind,
            "root_cause": "data_quality" if s.kind == "data_quality" else None,
            "service": SERVICE_SUFFERING,
            "target": s.feature,
            "severity": s.severity,
            "summary": s.summary,
            "explanation": f"{s.summary} {EXPLANATIONS[s.kind]}",
            "count": 1,
            "first_seen": ts,
            "last_seen": ts,
            "evidence": evidence,
        }

    # -- checkpoint ----------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The detector state as bytes (pickle: river's detectors are plain Python objects)."""
        return pickle.dumps({"version": CHECKPOINT_VERSION, "state": self.state, "stats": dict(self.stats)})

    def restore(self, blob: bytes) -> bool:
        """Load a snapshot; a corrupt or foreign one is counted and ignored (start fresh, never crash)."""
        try:
            data = pickle.loads(blob)  # trusted: written by this service to its own store
            if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
                raise ValueError(
                    f"checkpoint version {data.get('version') if isinstance(data, dict) else '?'}"
                )
            state = data["state"]
            if not isinstance(state, MonitorState):
                raise ValueError("checkpoint holds no monitor state")
        except Exception as exc:  # pickle raises many types on corrupt input
            self._bad("bad_checkpoint", f"checkpoint ignored: {type(exc).__name__}: {exc}")
            return False
        self.state = state
        self.stats.update(data.get("stats") or {})
        return True


def _ts(v: dict[str, Any]) -> int:
    ts = v.get("ts")
    if isinstance(ts, datetime):  # fastavro decodes timestamp-millis to an aware datetime
        return int(ts.timestamp() * 1000)
    return int(ts) if isinstance(ts, int | float) else 0

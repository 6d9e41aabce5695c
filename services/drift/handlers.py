"""The drift monitor: pure logic that turns features, predictions, labels and model events into incidents.

No Kafka, Redis or clock here: events go in as decoded dicts, Incident records come out, the
pending-prediction store is injected. service.py wires it to the bus.

One shift gives one incident: each detector learns a reference (per phase of the daily cycle when
a season is set), confirms a change before signalling and settles afterwards (hysteresis). Further
signals of the same fingerprint update the open incident (same incident_id, growing count), so a
persisting problem stays visible and is never swallowed; a recovery closes it, and the next change
opens a new one. Distribution detectors start with the first live model and keep their reference
across models (the inputs do not depend on the model); the error rate and the skew profile belong to
the live model and reset with it. Labels of interactions from before a model went live say nothing
of it on new traffic (they were its training data, or a backlog) and are left out of its error rate.
Bad input is counted (``stats`` and Prometheus) and skipped, never raised.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.common.events import derived_id
from services.common.incidents import UPSTREAM_DATA, fingerprint, incident_record
from services.drift import checkpoint, metrics
from services.drift.config import Thresholds
from services.drift.detectors import DetectorContext, ProfileError, Signal, create
from services.drift.detectors.base import fmt
from services.drift.detectors.categorical import CategoricalDriftDetector
from services.drift.detectors.error_rate import ErrorRateDetector
from services.drift.detectors.numeric import NumericDriftDetector
from services.drift.detectors.quality import QualityDetector
from services.drift.detectors.skew import SkewDetector
from services.drift.join import PendingStore

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 4  # 4: tagged JSON (services.drift.checkpoint) instead of pickle
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


OUT_OF_RANGE = ("below_min", "above_max")
JUDGE_MIN_VALUES = 20  # values enough to tell a change of units from drift or bad values


@dataclass
class FeatureState:
    """Every detector of one feature."""

    name: str
    kind: str  # numeric or categorical
    drift: NumericDriftDetector | CategoricalDriftDetector
    quality: QualityDetector | None = None
    skew: SkewDetector | None = None
    out_of_range: deque[float] = field(default_factory=lambda: deque(maxlen=100))  # recent raw bad values
    deferred: Signal | None = None  # a confirmed change waiting for the skew test to tell units from drift
    deferred_left: int = 0  # values until the deferred change is called drift


@dataclass
class OpenIncident:
    """An incident that is still going on: further signals of its fingerprint update it."""

    incident_id: str
    kind: str
    first_seen: int
    last_seen: int
    last_sent: int
    count: int = 1


@dataclass
class MonitorState:
    """Everything a restart must not lose (written to the checkpoint)."""

    features: dict[str, FeatureState] = field(default_factory=dict)
    errors: dict[str, ErrorRateDetector] = field(default_factory=dict)
    live: dict[str, int] = field(default_factory=dict)  # model name -> live version
    live_since: dict[str, int] = field(default_factory=dict)  # model name -> when that version went live (ms)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # feature -> FeatureProfile
    open: dict[str, OpenIncident] = field(default_factory=dict)  # fingerprint -> the incident going on
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
            self._bad("too_many_features", f"feature {name!r} beyond the limit of {self.th.incident.max_features}")
            return None
        cfg = self.th.for_feature(name)
        profile = self.state.profiles.get(name)
        context = self._context(profile)
        if kind == "numeric":
            fs = FeatureState(
                name,
                kind,
                create("numeric", name, cfg.numeric, context),
                create("quality", name, cfg.quality, context),
            )
        else:
            fs = FeatureState(name, kind, create("categorical", name, cfg.categorical, context))
        fs.skew = self._skew_for(name, kind, profile)
        self.state.features[name] = fs
        self._bind_judge(fs)
        return fs

    def _context(self, profile: dict[str, Any] | None = None) -> DetectorContext:
        """What detectors get besides their thresholds: the daily cycle, and the live model's profile entry."""
        return DetectorContext(season=self.th.season, profile=profile)

    def _bind_judge(self, fs: FeatureState) -> None:
        if isinstance(fs.drift, NumericDriftDetector):
            fs.drift.judge = lambda signal, values: self._judge_change(fs, signal, values)

    def _judge_change(self, fs: FeatureState, signal: Signal, values: list[float]) -> Signal | None:
        """A change of a numeric feature by a factor of its training scale is skew (units), not drift.

        Judged on every recent finite value (the skew detector's window: out-of-range ones included,
        which the drift detector never sees) and on the changed values the drift detector saw.
        """
        if fs.skew is None:
            return signal
        factor = fs.skew.scale_factor(list(fs.skew.values), JUDGE_MIN_VALUES)
        if factor is None:
            factor = fs.skew.scale_factor(values[-fs.skew.cfg.scale_window :], JUDGE_MIN_VALUES)
        if factor is None:
            # Too early to tell: the skew window has not turned over yet. Wait for it (one window of
            # values at most), so a change of units is never reported (and retrained on) as drift.
            if fs.deferred is None:  # a second confirmation while waiting does not restart the wait
                fs.deferred = signal
                fs.deferred_left = fs.skew.cfg.scale_window
            return None
        # The window may still mix both regimes: the newest values say best how large the factor is.
        factor = fs.skew.scale_factor(list(fs.skew.values)[-JUDGE_MIN_VALUES:], JUDGE_MIN_VALUES) or factor
        fs.skew.activate()  # one incident for the skew, whichever detector saw it first
        ev = dict(signal.evidence) | {"scale_factor": fmt(factor), "reference": "model profile"}
        return Signal(
            kind="skew",
            feature=fs.name,
            detector=f"scale ({signal.detector})",
            summary=(
                f"Training-serving skew on '{fs.name}': live values are x{factor:.3g} their training scale "
                f"(a unit or scaling change?), flagged by {signal.detector}."
            ),
            evidence=ev,
            severity="critical",
        )

    def _skew_for(self, name: str, kind: str, profile: dict[str, Any] | None) -> SkewDetector | None:
        if profile is None:
            return None
        if profile.get("kind") != kind:
            self._bad("bad_profile", f"profile of {name!r} is {profile.get('kind')!r}, live feature is {kind}")
            return None
        try:
            return create("skew", name, self.th.for_feature(name).skew, self._context(profile))
        except ProfileError as exc:
            self._bad("bad_profile", str(exc))
            return None

    def on_features(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        numeric = v.get("numeric")
        categorical = v.get("categorical")
        if not isinstance(numeric, dict) or not isinstance(categorical, dict):
            self._bad("malformed_features", f"FeatureVector {v.get('event_id')} without numeric/categorical maps")
            return []
        ts = _ts(v)
        at = _event_time(v, ts)  # the interaction's own time: its phase of the daily cycle
        out: list[dict[str, Any]] = []
        for name, raw in numeric.items():
            fs = self._feature(str(name), "numeric")
            if fs is not None:
                out += self._numeric_value(fs, raw, v, ts, at)
        for name, raw in categorical.items():
            fs = self._feature(str(name), "categorical")
            if fs is None:
                continue
            if not isinstance(raw, str) or raw == "":
                self._bad("bad_categorical_value", f"categorical {name!r} = {raw!r}")
                continue
            drift = fs.drift
            assert isinstance(drift, CategoricalDriftDetector)
            moved = drift.update(raw, at) if self.state.live else None
            out += self._emit_all((moved, fs.skew.update(raw, at) if fs.skew else None), v, ts)
        for name, fs in self.state.features.items():
            present = numeric if fs.kind == "numeric" else categorical
            if name not in present:
                self._bad("missing_feature", f"FeatureVector {v.get('event_id')} lacks {fs.kind} feature {name!r}")
                if fs.quality is not None:
                    out += self._emit_all((fs.quality.update("missing"),), v, ts)
        return out

    def _numeric_value(self, fs: FeatureState, raw: Any, v: dict[str, Any], ts: int, at: int) -> list[dict[str, Any]]:
        assert fs.quality is not None
        value: float | None
        if raw is None or (isinstance(raw, int | float) and not isinstance(raw, bool)):
            value = None if raw is None else float(raw)
        else:
            self._bad("bad_numeric_value", f"numeric {fs.name!r} = {raw!r}")
            value = math.nan
        reason = fs.quality.classify(value)
        if reason in OUT_OF_RANGE and value is not None:
            fs.out_of_range.append(value)
        signals: list[Signal | None] = [self._judge_quality(fs, fs.quality.update(reason))]
        if reason:
            metrics.BAD_VALUES.labels(fs.name, reason).inc()
            self.stats[f"value_{reason}"] += 1
        if value is not None and math.isfinite(value):
            # Out-of-range values are a quality problem, not a distribution to learn. Before the first model
            # goes live there is no served distribution to protect (and windowed features are still filling
            # up): distribution detectors start with it, data quality is watched from the first event.
            if not reason and self.state.live and self.th.for_feature(fs.name).numeric.enabled:
                signals.append(fs.drift.update(value, at))  # type: ignore[arg-type]
            if fs.skew is not None:
                skew = fs.skew.update(value, at)
                if skew is not None and skew.phase == "recovered" and isinstance(fs.drift, NumericDriftDetector):
                    fs.drift.hold = False  # good data again: the drift reference may learn from it
                signals.append(skew)
                signals.append(self._resolve_deferred(fs))
        return self._emit_all(signals, v, ts)

    def _resolve_deferred(self, fs: FeatureState) -> Signal | None:
        """A deferred change is skew once the skew test sees the new scale, else drift after one window."""
        if fs.deferred is None or fs.skew is None:
            return None
        if fs.skew.active:
            fs.deferred = None  # the skew detector raised it: that incident is the one
            return None
        fs.deferred_left -= 1
        factor = fs.skew.scale_factor(list(fs.skew.values), JUDGE_MIN_VALUES)
        if factor is not None:
            signal = self._judge_change(fs, fs.deferred, list(fs.skew.values))
            fs.deferred = None
            return signal
        if fs.deferred_left > 0:
            return None
        signal, fs.deferred = fs.deferred, None
        if isinstance(fs.drift, NumericDriftDetector):
            fs.drift.hold = False
            fs.drift.adopt()
        return signal

    def _judge_quality(self, fs: FeatureState, signal: Signal | None) -> Signal | None:
        """Out-of-range values that are the feature in other units (x12, x1000) are skew, not bad values."""
        if signal is None or fs.skew is None or signal.phase != "raised":
            return signal
        reasons = fs.quality.reasons if fs.quality is not None else Counter()
        ranged = sum(reasons[r] for r in OUT_OF_RANGE)
        if ranged * 2 < sum(v for v in reasons.values() if v > 0):
            return signal  # mostly nulls or NaN: a quality problem
        factor = fs.skew.scale_factor(list(fs.out_of_range), JUDGE_MIN_VALUES)
        if factor is None:
            return signal
        fs.skew.activate()
        return replace(
            signal,
            kind="skew",
            detector="scale (out of range)",
            summary=(
                f"Training-serving skew on '{fs.name}': out-of-range values are x{factor:.3g} its training "
                f"scale (a unit or scaling change?). {signal.summary}"
            ),
            evidence=dict(signal.evidence) | {"scale_factor": fmt(factor), "reference": "model profile"},
            severity="critical",
        )

    # -- predictions, labels, the join ---------------------------------------------------------
    def on_prediction(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        iid = v.get("interaction_id")
        score = v.get("score")
        if not iid or not isinstance(score, int | float) or not math.isfinite(score):
            self._bad("malformed_prediction", f"Prediction {v.get('event_id')} without interaction_id or score")
            return []
        its = v.get("interaction_ts")
        record = {
            "score": float(score),
            "model_name": str(v.get("model_name", "")),
            "model_version": int(v.get("model_version", -1)),
            "event_id": str(v.get("event_id", "")),
            "interaction_ts": int(its) if isinstance(its, int) else None,
        }
        waiting = self.pending.take_label(str(iid))
        if waiting is None:
            self.pending.put_prediction(str(iid), record)
            return []
        self.stats["joined_label_first"] += 1
        metrics.LABELS_WAITED.inc()
        return self._joined(record, waiting, v)

    def on_label(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        iid = v.get("interaction_id")
        applied = v.get("applied")
        if not iid or not isinstance(applied, bool):
            self._bad("malformed_label", f"Label {v.get('event_id')} without interaction_id or applied")
            return []
        pred = self.pending.take_prediction(str(iid))
        if pred is None:
            # Its prediction has not come yet (inference lags, or another partition is behind): the label
            # waits for it (``pending_ttl_s``) and is joined when it comes. Counted, not an error.
            self.stats["label_waiting"] += 1
            metrics.LABELS_WAITING.inc()
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
        since = self.state.live_since.get(model)
        happened = pred.get("interaction_ts") or _ts(v)  # without the interaction's time: the label's
        if since is not None and happened < since:
            self.stats["joined_before_live"] += 1  # its training data or a backlog: not the model on new traffic
            return []
        det = self.state.errors.get(model)
        if det is None:
            det = self.state.errors[model] = create("error_rate", model, self.th.error, self._context())
        error = (pred["score"] >= self.th.error.decision_threshold) != applied
        return self._emit_all((det.update(error, happened),), v, _ts(v), model=model)

    # -- model lifecycle -----------------------------------------------------------------------
    def on_model_event(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        if v.get("status") != "live":
            return []
        name = str(v.get("model_name", ""))
        version = v.get("version")
        if not name or not isinstance(version, int):
            self._bad("malformed_model_event", f"ModelPublished {v.get('event_id')} without model_name/version")
            return []
        if self.state.live.get(name) == version:
            return []  # a replay of the event that made this version live
        self.state.live[name] = version
        self.state.live_since[name] = _ts(v)
        self.reset(v.get("profile") or [])
        metrics.RESETS.inc()
        log.info("model %s v%d live: drift detectors reset", name, version)
        return []

    def reset(self, profile: list[dict[str, Any]]) -> None:
        """A new live model: its own profile (skew, null rates) and error rate; feature references stay."""
        profiles: dict[str, dict[str, Any]] = {}
        for entry in profile:
            if not isinstance(entry, dict) or not entry.get("feature"):
                self._bad("bad_profile", "profile entry without a feature name")
                continue
            profiles[str(entry["feature"])] = entry
        self.state.profiles = profiles
        for fs in self.state.features.values():
            p = profiles.get(fs.name)
            fs.skew = self._skew_for(fs.name, fs.kind, p)
            if fs.quality is not None:
                fs.quality = create("quality", fs.name, self.th.for_feature(fs.name).quality, self._context(p))
        for det in self.state.errors.values():
            det.reset()
        for fp in [fp for fp, o in self.state.open.items() if o.kind in ("concept_drift", "skew")]:
            del self.state.open[fp]  # they were about the previous model

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
        """Open an incident, update the open one, or close it on recovery; None when nothing is sent."""
        fp = fingerprint(s.kind, s.feature)
        inc_cfg = self.th.incident
        current = self.state.open.get(fp)
        if current is not None and ts - current.last_seen >= inc_cfg.cooldown_ms:
            del self.state.open[fp]  # quiet for the whole cooldown: that incident is over
            current = None
        if s.phase == "recovered":
            if current is not None:
                del self.state.open[fp]
                self.stats[f"recovered_{s.kind}"] += 1
                log.info("%s recovered after %d signals: %s", fp, current.count, s.summary)
            return None
        if current is not None:
            current.count += 1
            current.last_seen = ts
            if ts - current.last_sent < inc_cfg.update_interval_ms:
                metrics.SUPPRESSED.labels(s.kind).inc()
                self.stats[f"suppressed_{s.kind}"] += 1
                return None
            current.last_sent = ts
            self.stats[f"update_{s.kind}"] += 1
            metrics.UPDATES.labels(s.kind).inc()
            event_id = derived_id("drift-incident-update", f"{current.incident_id}:{current.count}")
            return self._record(s, v, ts, model, fp, event_id, current)
        event_id = derived_id("drift-incident", f"{fp}:{v.get('event_id', '')}")
        opened = OpenIncident(event_id, s.kind, ts, ts, ts)
        self.state.open[fp] = opened
        metrics.INCIDENTS.labels(s.kind).inc()
        self.stats[f"incident_{s.kind}"] += 1
        return self._record(s, v, ts, model, fp, event_id, opened)

    def _open_data_incidents(self, ts: int) -> list[str]:
        """Skew and data-quality incidents whose problem is still being seen at ``ts``."""
        recent = self.th.incident.bad_data_recent_ms
        return sorted(
            fp for fp, o in self.state.open.items() if o.kind in ("skew", "data_quality") and ts - o.last_seen <= recent
        )

    def _record(
        self, s: Signal, v: dict[str, Any], ts: int, model: str, fp: str, event_id: str, inc: OpenIncident
    ) -> dict[str, Any]:
        evidence = dict(s.evidence)
        live = self.state.live.get(model) if model else None
        if self.state.live:
            evidence.setdefault("live_models", ",".join(f"{k}:v{n}" for k, n in sorted(self.state.live.items())))
        if live is not None:
            evidence["model_version"] = str(live)
        evidence["summary"] = s.summary
        evidence["trigger_event_id"] = str(v.get("event_id", ""))
        evidence["state"] = "open" if inc.count == 1 else "persisting"
        root_cause = "data_quality" if s.kind == "data_quality" else None
        explanation = f"{s.summary} {EXPLANATIONS[s.kind]}"
        upstream = self._open_data_incidents(ts) if s.kind == "concept_drift" else []
        if upstream:
            # The model is fed bad data right now: retraining on it would learn the fault.
            root_cause = UPSTREAM_DATA
            evidence["open_data_incidents"] = ",".join(upstream)
            explanation = (
                f"{s.summary} It started while the input data is known bad ({', '.join(upstream)}): the "
                "likely cause is that data, not a changed world. Suggested action: fix the data first; "
                "do not retrain on it."
            )
        return incident_record(
            self.source,
            event_id=event_id,
            ts=ts,
            incident_id=inc.incident_id,
            fingerprint=fp,
            type=s.kind,
            root_cause=root_cause,
            service=SERVICE_SUFFERING,
            target=s.feature,
            severity=s.severity,
            summary=s.summary,
            explanation=explanation,
            count=inc.count,
            first_seen=inc.first_seen,
            last_seen=inc.last_seen,
            evidence=evidence,
        )

    # -- checkpoint ----------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The detector state as a checkpoint blob (services.drift.checkpoint: data only, no pickle)."""
        return checkpoint.dumps({"version": CHECKPOINT_VERSION, "state": self.state, "stats": dict(self.stats)})

    def restore(self, blob: bytes) -> bool:
        """Load a snapshot; a corrupt, foreign or hostile one is refused, counted and ignored (start fresh).

        Nothing of the blob is applied unless all of it decodes into a monitor state: a refused blob
        leaves the running state as it was.
        """
        try:
            data = checkpoint.loads(blob)
            if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
                raise checkpoint.CheckpointError(
                    f"checkpoint version {data.get('version') if isinstance(data, dict) else '?'}, "
                    f"this monitor reads {CHECKPOINT_VERSION}"
                )
            state = data["state"]
            _check_state(state)
            stats = data.get("stats") or {}
            if not isinstance(stats, dict) or not all(isinstance(v, int) for v in stats.values()):
                raise checkpoint.CheckpointError("checkpoint statistics are not counts")
        except checkpoint.CheckpointError as exc:
            self._bad("bad_checkpoint", f"checkpoint refused: {exc}")
            return False
        self.state = state
        for fs in state.features.values():
            self._bind_judge(fs)
        self.stats.update(stats)
        return True


checkpoint.allow(FeatureState, OpenIncident, MonitorState)


def _check_state(state: Any) -> None:
    """The shape of a restored state, so a well-formed but wrong blob fails here, not on the next event."""
    if not isinstance(state, MonitorState):
        raise checkpoint.CheckpointError("checkpoint holds no monitor state")
    expected: list[tuple[str, Any, type | tuple[type, ...]]] = [
        ("features", state.features, FeatureState),
        ("errors", state.errors, ErrorRateDetector),
        ("live", state.live, int),
        ("live_since", state.live_since, int),
        ("profiles", state.profiles, dict),
        ("open", state.open, OpenIncident),
    ]
    for name, table, kind in expected:
        if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, kind) for k, v in table.items()):
            raise checkpoint.CheckpointError(f"checkpoint field {name!r} is not a table of {kind}")
    for fs in state.features.values():
        if not isinstance(fs.drift, NumericDriftDetector | CategoricalDriftDetector):
            raise checkpoint.CheckpointError(f"feature {fs.name!r} has no drift detector")
        if not isinstance(fs.quality, QualityDetector | None) or not isinstance(fs.skew, SkewDetector | None):
            raise checkpoint.CheckpointError(f"feature {fs.name!r} has detectors of the wrong kind")


def _event_time(v: dict[str, Any], fallback: int) -> int:
    """When the interaction behind a FeatureVector happened (its ``interaction_ts``), else ``fallback``."""
    its = v.get("interaction_ts")
    if isinstance(its, datetime):
        return int(its.timestamp() * 1000)
    return int(its) if isinstance(its, int | float) and its > 0 else fallback


def _ts(v: dict[str, Any]) -> int:
    ts = v.get("ts")
    if isinstance(ts, datetime):  # fastavro decodes timestamp-millis to an aware datetime
        return int(ts.timestamp() * 1000)
    return int(ts) if isinstance(ts, int | float) else 0

"""Detector thresholds: defaults per detector family, overridden per feature in thresholds.yaml.

Why a file: the right sensitivity depends on the feature (a heavy-tailed salary needs a higher
threshold than a bounded match score), and operators tune it without a code change.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml

DEFAULT_PATH = Path(__file__).with_name("thresholds.yaml")


@dataclass(frozen=True)
class NumericThresholds:
    """Mean/variance drift on one numeric feature (ADWIN + PageHinkley on standardised values)."""

    enabled: bool = True  # off for a feature derived from the event clock: its drift is its source's
    warmup: int = 1000
    adwin_delta: float = 1e-5
    ph_delta: float = 0.5
    ph_threshold: float = 14.0
    ph_min_instances: int = 200
    variance_ph_delta: float = 0.5
    variance_ph_threshold: float = 18.0
    clip_z: float = 8.0
    confirm_window: int = 200
    confirm_patience: int = 600
    min_effect_std: float = 0.3
    min_std_ratio: float = 1.3


@dataclass(frozen=True)
class CategoricalThresholds:
    """Windowed Jensen-Shannon distance of category frequencies against a reference window."""

    warmup: int = 1000
    window: int = 500
    check_every: int = 100
    js_threshold: float = 0.05
    persistence: int = 3
    max_categories: int = 200


@dataclass(frozen=True)
class ErrorThresholds:
    """Concept drift on the prediction error stream (DDM + ADWIN, confirmed by a rate test)."""

    warmup: int = 2000
    ddm_warm_start: int = 500
    ddm_warning: float = 2.0
    ddm_drift: float = 3.0
    adwin_delta: float = 0.03
    confirm_window: int = 200
    confirm_patience: int = 600
    confirm_z: float = 4.0
    reference_max: int = 50_000
    min_increase: float = 0.02
    decision_threshold: float = 0.5
    # After a signal the reference stays (it is the model's healthy error rate): the degradation is
    # re-checked every ``persist_every`` labels over the last ``recovery_window`` labels; still worse
    # (z >= confirm_z) re-signals it, back within ``clear_z`` standard errors means recovered.
    recovery_window: int = 500
    persist_every: int = 500
    clear_z: float = 1.0


@dataclass(frozen=True)
class SkewThresholds:
    """Training-serving skew: live window against the reference profile of the live model."""

    window: int = 1000
    min_events: int = 500
    check_every: int = 250
    # A numeric feature is called skewed (a pipeline fault: units, scaling, encoding) only when its
    # live median and spread are this many times the training ones; smaller moves are data drift,
    # which the numeric detectors report. 0 disables the check.
    min_scale_ratio: float = 5.0
    scale_window: int = 100  # recent values whose median and spread are compared with the profile's
    # Categorical skew is an encoding mismatch: this share of live values in categories training never saw.
    # (A changed mix of known categories is data drift, judged against the season by the drift detector.)
    unseen_share: float = 0.2


@dataclass(frozen=True)
class QualityThresholds:
    """Bursts of nulls, NaN or out-of-range values in a window."""

    window: int = 200
    min_events: int = 100
    max_bad_rate: float = 0.2
    null_rate_margin: float = 0.1
    clear_ratio: float = 0.5
    valid_min: float | None = None
    valid_max: float | None = None


@dataclass(frozen=True)
class SeasonThresholds:
    """The daily cycle: references are kept per phase of it, so traffic is judged against its own hour.

    ``period_s`` 0 means no season (one reference for all times); the drift service sets it from
    ``AIG_SEASON_PERIOD_S``. With a season, a reference is complete only after one whole period.
    """

    period_s: float = 0.0
    bins: int = 288  # phases per period: 5 minutes of a real day
    pool: int = 1  # a value is ranked among the values of its phase and this many neighbours each side
    min_pool: int = 40  # sparse phases (nights) widen their pool until it holds this many values
    max_per_bin: int = 64  # reservoir per phase: bounds memory and checkpoints
    horizon_periods: int = 7  # the reference keeps learning; about this many past periods are represented
    # A feature is judged per phase only when its phases differ by this much (numeric: the spread of the
    # hourly mean normal scores; categorical: the largest total variation distance of an hour from the
    # day); else one reference of the whole day serves every phase, with far less noise.
    min_effect: float = 0.05


@dataclass(frozen=True)
class IncidentThresholds:
    """One incident per change: further signals of the same fingerprint update the open incident.

    An open incident expires ``cooldown_ms`` after its last signal (or at once when its detector
    reports recovery); a signal after that opens a new one. Updates are sent at most every
    ``update_interval_ms``, so a persisting problem stays visible without flooding the topic.
    The input counts as known bad (a model degradation then gets root cause upstream_data) while a
    skew or data-quality incident has had a signal within ``bad_data_recent_ms``: an incident that
    merely has not expired yet says nothing about the data now.
    """

    cooldown_ms: int = 600_000
    update_interval_ms: int = 30_000
    bad_data_recent_ms: int = 60_000
    max_features: int = 200


@dataclass(frozen=True)
class FeatureThresholds:
    numeric: NumericThresholds = field(default_factory=NumericThresholds)
    categorical: CategoricalThresholds = field(default_factory=CategoricalThresholds)
    skew: SkewThresholds = field(default_factory=SkewThresholds)
    quality: QualityThresholds = field(default_factory=QualityThresholds)


@dataclass(frozen=True)
class Thresholds:
    defaults: FeatureThresholds = field(default_factory=FeatureThresholds)
    features: dict[str, FeatureThresholds] = field(default_factory=dict)
    error: ErrorThresholds = field(default_factory=ErrorThresholds)
    incident: IncidentThresholds = field(default_factory=IncidentThresholds)
    season: SeasonThresholds = field(default_factory=SeasonThresholds)

    def for_feature(self, name: str) -> FeatureThresholds:
        return self.features.get(name, self.defaults)


T = TypeVar("T")


def _apply(base: T, overrides: Any, where: str) -> T:
    if overrides is None:
        return base
    if not isinstance(overrides, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(overrides).__name__}")
    known = {f.name for f in fields(base)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    return replace(base, **overrides)  # type: ignore[type-var]


def _feature(base: FeatureThresholds, raw: Any, where: str) -> FeatureThresholds:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping")
    unknown = sorted(set(raw) - {"numeric", "categorical", "skew", "quality"})
    if unknown:
        raise ValueError(f"{where}: unknown sections {unknown}")
    return FeatureThresholds(
        numeric=_apply(base.numeric, raw.get("numeric"), f"{where}.numeric"),
        categorical=_apply(base.categorical, raw.get("categorical"), f"{where}.categorical"),
        skew=_apply(base.skew, raw.get("skew"), f"{where}.skew"),
        quality=_apply(base.quality, raw.get("quality"), f"{where}.quality"),
    )


def parse_thresholds(raw: dict[str, Any] | None) -> Thresholds:
    """Build thresholds from the YAML mapping; unknown keys are an error, not silently ignored."""
    raw = raw or {}
    unknown = sorted(set(raw) - {"defaults", "features", "error", "incident", "season"})
    if unknown:
        raise ValueError(f"thresholds: unknown sections {unknown}")
    defaults = _feature(FeatureThresholds(), raw.get("defaults"), "defaults")
    features = {
        str(name): _feature(defaults, spec, f"features.{name}") for name, spec in (raw.get("features") or {}).items()
    }
    return Thresholds(
        defaults=defaults,
        features=features,
        error=_apply(ErrorThresholds(), raw.get("error"), "error"),
        incident=_apply(IncidentThresholds(), raw.get("incident"), "incident"),
        season=_apply(SeasonThresholds(), raw.get("season"), "season"),
    )


def load_thresholds(path: Path | str = DEFAULT_PATH) -> Thresholds:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read thresholds {path}: {exc}") from exc
    return parse_thresholds(raw)

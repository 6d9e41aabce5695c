"""Detector thresholds: one frozen model per detector family, its defaults here, overrides in thresholds.yaml.

Why a file: the right sensitivity depends on the feature (a heavy-tailed salary needs a higher
threshold than a bounded match score), and operators tune it without a code change. The file holds
overrides only, so each default is written once (here) and every value in the file is a decision.
Unknown keys are an error, not silently ignored: a typo must not leave the default in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_PATH = Path(__file__).with_name("thresholds.yaml")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NumericThresholds(_Section):
    """Mean/variance drift on one numeric feature (ADWIN + PageHinkley on standardised values).

    Values are in reference standard deviations (the warm-up baseline), so one setting fits features
    of any scale. Tuned with ``python -m bench.drift.evaluate`` (see its PASS/FAIL lines).
    """

    enabled: bool = Field(
        default=True, description="off for a feature derived from the event clock: its drift is its source's"
    )
    warmup: int = Field(default=1000, ge=1, description="events that form the baseline after a reset")
    adwin_delta: float = Field(default=1e-5, gt=0, lt=1, description="ADWIN confidence on standardised values")
    ph_delta: float = Field(default=0.5, ge=0, description="PageHinkley allowance k (std units)")
    ph_threshold: float = Field(default=14.0, gt=0, description="PageHinkley decision interval h (std units)")
    ph_min_instances: int = Field(default=200, ge=1)
    variance_ph_delta: float = Field(default=0.5, ge=0)
    variance_ph_threshold: float = Field(default=18.0, gt=0)
    clip_z: float = Field(default=8.0, gt=0)
    confirm_window: int = Field(
        default=200, ge=1, description="persistence check: the recent window must differ from the reference"
    )
    confirm_patience: int = Field(
        default=600, ge=1, description="...within this many events of the alarm, else it is dropped"
    )
    min_effect_std: float = Field(default=0.3, ge=0, description="...by this shift of the mean (std units)")
    min_std_ratio: float = Field(default=1.3, ge=1, description="...or this ratio of standard deviations")


class CategoricalThresholds(_Section):
    """Windowed Jensen-Shannon distance of category frequencies against a reference window."""

    warmup: int = Field(default=1000, ge=1)
    window: int = Field(default=500, ge=1)
    check_every: int = Field(default=100, ge=1)
    js_threshold: float = Field(default=0.05, gt=0, le=1)
    persistence: int = Field(default=3, ge=1)
    max_categories: int = Field(default=200, ge=1)


class ErrorThresholds(_Section):
    """Concept drift on the 0/1 prediction error stream (DDM + ADWIN, confirmed by a rate test).

    After a signal the reference stays (it is the model's healthy error rate): the degradation is
    re-checked every ``persist_every`` labels over the last ``recovery_window`` labels; still worse
    (z >= confirm_z) re-signals it, back within ``clear_z`` standard errors means recovered.
    """

    warmup: int = Field(default=2000, ge=1, description="labelled predictions that measure the reference error rate")
    ddm_warm_start: int = Field(default=500, ge=0)
    ddm_warning: float = Field(default=2.0, gt=0)
    ddm_drift: float = Field(default=3.0, gt=0)
    adwin_delta: float = Field(
        default=0.03, gt=0, lt=1, description="a fast ADWIN: the confirmation removes its spurious cuts"
    )
    confirm_window: int = Field(default=200, ge=1, description="the shortest window tested (x1, x2.5, x5, x25)")
    confirm_patience: int = Field(default=600, ge=1)
    confirm_z: float = Field(
        default=4.0,
        gt=0,
        description="two-proportion z-test (both rates' uncertainty, autocorrelation) at every window size",
    )
    reference_max: int = Field(
        default=50_000, ge=1, description="the reference keeps growing after the warm-up, up to this"
    )
    min_increase: float = Field(default=0.02, ge=0, description="and at least 2 points more errors")
    decision_threshold: float = Field(default=0.5, ge=0, le=1)
    recovery_window: int = Field(
        default=500, ge=1, description="after a signal: the last labels re-tested against the reference"
    )
    persist_every: int = Field(
        default=500, ge=1, description="...this often: still worse re-signals, back within clear_z recovers"
    )
    clear_z: float = 1.0


class SkewThresholds(_Section):
    """Training-serving skew: live window against the reference profile of the live model.

    A numeric feature is called skewed (a pipeline fault: units, scaling, encoding) only when its live
    median and spread are ``min_scale_ratio`` times the training ones; smaller moves are data drift,
    which the numeric detectors report. Categorical skew is an encoding mismatch: a share of live values
    in categories training never saw (a changed mix of known categories is data drift, judged against
    the season by the drift detector).
    """

    window: int = Field(default=1000, ge=1, description="values whose PSI/JS against the profile go into the evidence")
    min_events: int = Field(default=500, ge=1, description="categorical: values before the unseen share is judged")
    check_every: int = Field(default=250, ge=1)
    min_scale_ratio: float = Field(
        default=5.0, ge=0, description="live median and IQR x5 (or /5) the training ones; 0: off"
    )
    scale_window: int = Field(default=100, ge=1, description="recent values whose median and spread are compared")
    unseen_share: float = Field(
        default=0.2, gt=0, le=1, description="categorical: share of values in unseen categories"
    )
    recovery_values: int = Field(
        default=1000,
        ge=1,
        description="values in a row without skew before a skew is over: partitions read out of step mix both"
        " regimes for a while after a fault ends, and each flip back would open a new incident",
    )


class QualityThresholds(_Section):
    """Bursts of nulls, NaN or out-of-range values in a window."""

    window: int = Field(default=200, ge=1)
    min_events: int = Field(default=100, ge=1)
    max_bad_rate: float = Field(default=0.2, gt=0, le=1)
    null_rate_margin: float = Field(default=0.1, ge=0)
    clear_ratio: float = Field(default=0.5, gt=0, le=1)
    valid_min: float | None = None
    valid_max: float | None = None

    @model_validator(mode="after")
    def _range_is_not_empty(self) -> QualityThresholds:
        if self.valid_min is not None and self.valid_max is not None and self.valid_min > self.valid_max:
            raise ValueError(f"valid_min {self.valid_min} is above valid_max {self.valid_max}")
        return self


class SeasonThresholds(_Section):
    """The daily cycle: references are kept per phase of it, so traffic is judged against its own hour.

    ``period_s`` 0 means no season (one reference for all times); the drift service sets it from
    ``AIG_SEASON_PERIOD_S``. With a season, a reference is complete only after one whole period.
    A feature is judged per phase only when its phases differ by ``min_effect`` (numeric: the spread of
    the hourly mean normal scores; categorical: the largest total variation distance of an hour from
    the day); else one reference of the whole day serves every phase, with far less noise.
    """

    period_s: float = Field(default=0.0, ge=0)
    bins: int = Field(default=288, ge=1, description="phases per period: 5 minutes of a real day")
    pool: int = Field(
        default=1, ge=0, description="a value is ranked among its phase and this many neighbours each side"
    )
    min_pool: int = Field(
        default=40, ge=1, description="sparse phases (nights) widen their pool until it holds this many"
    )
    max_per_bin: int = Field(default=64, ge=1, description="reservoir per phase: bounds memory and checkpoints")
    horizon_periods: int = Field(
        default=7, ge=1, description="the reference keeps learning: about this many past periods"
    )
    min_effect: float = Field(default=0.05, ge=0)


class IncidentThresholds(_Section):
    """One incident per change: further signals of the same fingerprint update the open incident.

    An open incident expires ``cooldown_ms`` after its last signal (or at once when its detector
    reports recovery); a signal after that opens a new one. Updates are sent at most every
    ``update_interval_ms``, so a persisting problem stays visible without flooding the topic.
    The input counts as known bad (a model degradation then gets root cause upstream_data) while a
    skew or data-quality incident has had a signal within ``bad_data_recent_ms``: an incident that
    merely has not expired yet says nothing about the data now.
    """

    cooldown_ms: int = Field(default=600_000, ge=0)
    update_interval_ms: int = Field(default=30_000, ge=0)
    bad_data_recent_ms: int = Field(default=60_000, ge=0)
    max_features: int = Field(default=200, ge=1)


class FeatureThresholds(_Section):
    """The thresholds of every detector of one feature."""

    numeric: NumericThresholds = NumericThresholds()
    categorical: CategoricalThresholds = CategoricalThresholds()
    skew: SkewThresholds = SkewThresholds()
    quality: QualityThresholds = QualityThresholds()


class Thresholds(_Section):
    """The whole file: ``defaults`` apply to every feature, ``features.<name>`` overrides them key by key."""

    defaults: FeatureThresholds = FeatureThresholds()
    features: dict[str, FeatureThresholds] = {}
    error: ErrorThresholds = ErrorThresholds()
    incident: IncidentThresholds = IncidentThresholds()
    season: SeasonThresholds = SeasonThresholds()

    @model_validator(mode="before")
    @classmethod
    def _features_inherit_defaults(cls, data: Any) -> Any:
        """An empty section is no override; a feature's section is the defaults' with its own keys on top."""
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if v is not None}
        defaults, features = data.get("defaults", {}), data.get("features", {})
        if not isinstance(defaults, dict) or not isinstance(features, dict):
            return data  # the model reports the wrong type
        defaults = {k: v for k, v in defaults.items() if v is not None}
        merged: dict[str, Any] = {}
        for name, spec in features.items():
            spec = {} if spec is None else spec
            if not isinstance(spec, dict):
                merged[str(name)] = spec
                continue
            spec = {k: v for k, v in spec.items() if v is not None}
            sections = {**defaults, **spec}
            for key in set(defaults) & set(spec):
                if isinstance(defaults[key], dict) and isinstance(spec[key], dict):
                    sections[key] = {**defaults[key], **spec[key]}
            merged[str(name)] = sections
        return {**data, "defaults": defaults, "features": merged}

    def for_feature(self, name: str) -> FeatureThresholds:
        return self.features.get(name, self.defaults)


def _value_type(annotation: Any) -> Any:
    """``dict[str, X]`` -> ``X`` (the features map), anything else unchanged."""
    return get_args(annotation)[1] if get_origin(annotation) is dict else annotation


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model that validates the mapping at ``loc``; a feature name is a key of ``features``, not a field."""
    path = loc[:1] + loc[2:] if loc[:1] == ("features",) else loc
    model: Any = Thresholds
    for part in path:
        field = model.model_fields.get(str(part)) if _is_model(model) else None
        if field is None:
            return None
        model = _value_type(field.annotation)
    return model if _is_model(model) else None


def _where(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in loc) or "thresholds"


def _problems(exc: ValidationError) -> list[str]:
    """Pydantic's errors in this file's words: one line per problem, unknown keys grouped by section."""
    errors = exc.errors()
    # Every feature inherits the defaults: a problem there is reported once, not once per feature.
    errors = [e for e in errors if e["loc"][:1] == ("defaults",)] or errors
    unknown: dict[tuple[str | int, ...], list[str]] = {}
    lines: list[str] = []
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
        elif e["type"] in ("model_type", "dict_type"):
            lines.append(f"{_where(loc)}: expected a mapping, got {type(e['input']).__name__}")
        else:
            lines.append(f"{_where(loc)}: {e['msg']} (got {e['input']!r})")
    for loc, keys in unknown.items():
        model = _model_at(loc)
        known = sorted(model.model_fields) if model else []
        sections = model is not None and all(_is_model(_value_type(f.annotation)) for f in model.model_fields.values())
        lines.insert(0, f"{_where(loc)}: unknown {'sections' if sections else 'keys'} {sorted(keys)}; known: {known}")
    return lines


def parse_thresholds(raw: dict[str, Any] | None) -> Thresholds:
    """Build thresholds from the YAML mapping; unknown keys and out-of-range values are an error."""
    try:
        return Thresholds.model_validate(raw or {})
    except ValidationError as exc:
        raise ValueError("\n".join(_problems(exc))) from None


def load_thresholds(path: Path | str = DEFAULT_PATH) -> Thresholds:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read thresholds {path}: {exc}") from exc
    return parse_thresholds(raw)

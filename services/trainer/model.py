"""The job-apply model: feature encoding, LightGBM training, evaluation and the reference profile.

Pure functions over in-memory rows (no database, no Kafka), shared by the trainer and inference so
both encode a row the same way. Categorical features become integer codes from a vocabulary stored
with the model (pandas is not needed); a category outside the vocabulary and a missing value are NaN,
which LightGBM routes as "missing".
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

NumericMap = Mapping[str, float | None]
CategoricalMap = Mapping[str, str]

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.08,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 8,
    "seed": 7,
    "deterministic": True,
    "num_threads": 1,
    "verbose": -1,
}


@dataclass(frozen=True)
class LabelledRow:
    """One training example: the features of an interaction joined with its label."""

    interaction_id: str
    ts: datetime
    numeric: NumericMap
    categorical: CategoricalMap
    label: bool


class FeatureRowError(ValueError):
    """A row cannot be encoded (wrong types); the message names the feature."""


@dataclass(frozen=True)
class FeatureSpec:
    """The model's input columns, in order, plus the vocabulary of every categorical feature."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    vocabularies: Mapping[str, tuple[str, ...]]
    _codes: dict[str, dict[str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        overlap = set(self.numeric) & set(self.categorical)
        if overlap:
            raise ValueError(f"features both numeric and categorical: {sorted(overlap)}")
        codes = {name: {c: i for i, c in enumerate(self.vocabularies.get(name, ()))} for name in self.categorical}
        object.__setattr__(self, "_codes", codes)

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @property
    def categorical_indices(self) -> list[int]:
        return list(range(len(self.numeric), len(self.numeric) + len(self.categorical)))

    def encode(self, numeric: Sequence[NumericMap], categorical: Sequence[CategoricalMap]) -> np.ndarray:
        """A float64 matrix (rows x features); missing values and unknown categories are NaN."""
        n_num = len(self.numeric)
        out = np.full((len(numeric), n_num + len(self.categorical)), np.nan, dtype=np.float64)
        for i, (num, cat) in enumerate(zip(numeric, categorical, strict=True)):
            for j, name in enumerate(self.numeric):
                value = num.get(name)
                if value is not None:
                    try:
                        out[i, j] = value
                    except (TypeError, ValueError):
                        raise FeatureRowError(f"numeric feature {name!r} is not a number: {value!r}") from None
            for j, name in enumerate(self.categorical):
                category = cat.get(name)
                if category is not None:
                    code = self._codes[name].get(category)
                    if code is not None:
                        out[i, n_num + j] = code
        return out

    def encode_rows(self, rows: Sequence[LabelledRow]) -> np.ndarray:
        return self.encode([r.numeric for r in rows], [r.categorical for r in rows])

    def to_json(self) -> dict[str, Any]:
        return {
            "numeric_features": list(self.numeric),
            "categorical_features": list(self.categorical),
            "vocabularies": {k: list(v) for k, v in self.vocabularies.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return cls(
            numeric=tuple(data["numeric_features"]),
            categorical=tuple(data["categorical_features"]),
            vocabularies={k: tuple(v) for k, v in data["vocabularies"].items()},
        )


def fit_spec(
    rows: Sequence[LabelledRow],
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    max_vocab: int = 200,
    min_count: int = 2,
) -> FeatureSpec:
    """Choose the columns (given, or every key seen in the rows) and learn the vocabularies.

    Only categories seen ``min_count`` times enter the vocabulary (the most frequent ``max_vocab``),
    so a one-off value does not get its own split.
    """
    if numeric is None:
        numeric = sorted({k for r in rows for k in r.numeric})
    if categorical is None:
        categorical = sorted({k for r in rows for k in r.categorical})
    vocab: dict[str, tuple[str, ...]] = {}
    for name in categorical:
        counts = Counter(r.categorical[name] for r in rows if r.categorical.get(name) is not None)
        kept = [(c, n) for c, n in counts.items() if n >= min_count]
        kept.sort(key=lambda cn: (-cn[1], cn[0]))
        vocab[name] = tuple(c for c, _ in kept[:max_vocab])
    return FeatureSpec(tuple(numeric), tuple(categorical), vocab)


@dataclass
class ModelBundle:
    """A trained booster with the spec it needs to encode rows; the unit stored and served."""

    booster: lgb.Booster
    spec: FeatureSpec
    meta: dict[str, Any] = field(default_factory=dict)

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        # One thread: OpenMP start-up costs ~1 ms per call, far more than scoring a small batch.
        return np.asarray(self.booster.predict(x, num_threads=1), dtype=np.float64)

    def predict(self, numeric: Sequence[NumericMap], categorical: Sequence[CategoricalMap]) -> np.ndarray:
        return self.predict_matrix(self.spec.encode(numeric, categorical))

    def predict_one(self, numeric: NumericMap, categorical: CategoricalMap) -> float:
        """Score one row through LightGBM's single-row fast path (no per-call setup)."""
        local = self.__dict__.setdefault("_fast", threading.local())
        fast = getattr(local, "predictor", None)
        if fast is None:
            fast = local.predictor = _FastSingleRow(self.booster, len(self.spec.names))
        return fast.predict(self.spec.encode([numeric], [categorical]))

    def predict_rows(self, rows: Sequence[LabelledRow]) -> np.ndarray:
        return self.predict_matrix(self.spec.encode_rows(rows))

    def booster_text(self) -> str:
        return str(self.booster.model_to_string())


class _FastSingleRow:
    """LGBM_BoosterPredictForMatSingleRowFast: the row-scoring setup is done once, not per call.

    A fast config is not safe to share between threads, so each thread gets its own (see
    :meth:`ModelBundle.predict_one`); it is freed when it is garbage-collected.
    """

    def __init__(self, booster: lgb.Booster, ncol: int) -> None:
        from lightgbm.basic import _LIB, _safe_call

        self._booster = booster  # the config points into the booster: keep it alive
        self._safe_call = _safe_call
        self._predict = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(0),  # C_API_PREDICT_NORMAL
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # all iterations
                ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
                ctypes.c_int32(ncol),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(handle),
            )
        )
        self._handle = handle
        self._out = np.zeros(1, dtype=np.float64)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64(0)
        weakref.finalize(self, _LIB.LGBM_FastConfigFree, handle)

    def predict(self, x: np.ndarray) -> float:
        row = np.ascontiguousarray(x[0], dtype=np.float64)
        self._safe_call(
            self._predict(
                self._handle, row.ctypes.data_as(ctypes.c_void_p), ctypes.byref(self._out_len), self._out_ptr
            )
        )
        return float(self._out[0])


def train(
    rows: Sequence[LabelledRow],
    spec: FeatureSpec,
    params: Mapping[str, Any] | None = None,
    num_boost_round: int = 150,
) -> lgb.Booster:
    """Fit a binary LightGBM booster on ``rows`` (needs both classes)."""
    y = np.fromiter((r.label for r in rows), dtype=np.float64, count=len(rows))
    if len(rows) == 0 or y.min() == y.max():
        raise ValueError(f"training needs both classes; got {len(rows)} rows, {int(y.sum())} positive")
    merged = {**DEFAULT_PARAMS, **(params or {})}
    dataset = lgb.Dataset(
        spec.encode_rows(rows),
        label=y,
        feature_name=spec.names,
        categorical_feature=spec.categorical_indices,
        free_raw_data=True,
        params={"verbose": -1},
    )
    return lgb.train(merged, dataset, num_boost_round=num_boost_round)


def evaluate(labels: Iterable[bool], scores: np.ndarray) -> dict[str, float]:
    """AUC and log loss of ``scores``; AUC is NaN when the labels hold one class only."""
    y = np.asarray(list(labels), dtype=np.float64)
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else math.nan
    return {
        "auc": auc,
        "logloss": float(log_loss(y, p, labels=[0.0, 1.0])) if len(y) else math.nan,
        "rows": float(len(y)),
        "positive_rate": float(y.mean()) if len(y) else math.nan,
    }


def booster_checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build_profile(
    rows: Sequence[LabelledRow], spec: FeatureSpec, bins: int = 10, max_categories: int = 50
) -> list[dict[str, Any]]:
    """The reference distribution of the training data, one FeatureProfile record per feature.

    Numeric: ``edges`` are the interior quantile cut points of the non-null values; bin ``i`` holds
    ``edges[i-1] <= v < edges[i]`` (open-ended first and last bins, ``np.searchsorted(edges, v,
    side="right")`` gives the bin), so ``len(fractions) == len(edges) + 1`` and live values outside
    the training range still land in a bin. Fractions are shares of the non-null values.
    Categorical: the most frequent ``max_categories`` categories and their shares of the non-null
    values; the rest, if any, as ``"__other__"``.
    """
    n = len(rows)
    profile: list[dict[str, Any]] = []
    for name in spec.numeric:
        values = np.array(
            [v for r in rows if (v := r.numeric.get(name)) is not None and math.isfinite(v)], dtype=np.float64
        )
        null_rate = 1.0 - len(values) / n if n else 0.0
        if len(values) == 0:
            profile.append(_numeric_profile(name, [], [1.0], None, None, null_rate))
            continue
        qs = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
        edges = np.unique(qs)
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        profile.append(
            _numeric_profile(
                name,
                [float(e) for e in edges],
                [float(c) / len(values) for c in counts],
                float(values.mean()),
                float(values.std()),
                null_rate,
            )
        )
    for name in spec.categorical:
        seen = [r.categorical[name] for r in rows if r.categorical.get(name) is not None]
        ranked = Counter(seen).most_common()
        top = ranked[:max_categories]
        other = sum(c for _, c in ranked[max_categories:])
        categories = [c for c, _ in top] + (["__other__"] if other else [])
        total = len(seen) or 1
        fractions = [c / total for _, c in top] + ([other / total] if other else [])
        profile.append(
            {
                "feature": name,
                "kind": "categorical",
                "edges": [],
                "categories": categories,
                "fractions": fractions,
                "mean": None,
                "std": None,
                "null_rate": 1.0 - len(seen) / n if n else 0.0,
            }
        )
    return profile


def _numeric_profile(
    name: str, edges: list[float], fractions: list[float], mean: float | None, std: float | None, null_rate: float
) -> dict[str, Any]:
    return {
        "feature": name,
        "kind": "numeric",
        "edges": edges,
        "categories": [],
        "fractions": fractions,
        "mean": mean,
        "std": std,
        "null_rate": null_rate,
    }

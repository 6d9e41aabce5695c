"""The job-apply model as every service holds it: the rows, the feature encoding and the bundle.

The trainer builds a bundle and inference scores with it, so both encode a row the same way: this
module is the one definition. Categorical features become integer codes from a vocabulary stored
with the model (pandas is not needed); a category outside the vocabulary and a missing value are NaN,
which LightGBM routes as "missing".
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import lightgbm as lgb
import numpy as np

NumericMap = Mapping[str, float | None]
CategoricalMap = Mapping[str, str]


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
        from lightgbm.basic import _LIB, _safe_call  # type: ignore[attr-defined]  # the C API, for one-row scoring

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
            self._predict(self._handle, row.ctypes.data_as(ctypes.c_void_p), ctypes.byref(self._out_len), self._out_ptr)
        )
        return float(self._out[0])


def booster_checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()

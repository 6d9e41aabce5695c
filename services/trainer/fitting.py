"""Training the job-apply model: LightGBM fitting, evaluation and the reference profile.

Pure functions over in-memory rows (no database, no Kafka). The bundle they fill and the row
encoding are shared with inference (``services.common.model.bundle``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from services.common.model.bundle import FeatureSpec, LabelledRow

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

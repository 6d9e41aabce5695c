"""Streams with known change points for the drift harness.

Numeric streams: Gaussian feature values with abrupt or gradual shifts of the mean (0.5 to 2 std)
or of the spread (std x1.5 to x3). Error streams: a model trained once on the first concept and then
frozen (as in production) scores river's SEA, Agrawal and Hyperplane generators joined through
ConceptDriftStream, plus a label-function change; its 0/1 errors are the stream.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from river.datasets import synth
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier


@dataclass(frozen=True)
class Stream:
    scenario: str
    family: str  # numeric or error
    seed: int
    values: list[float]
    change_at: int | None  # index of the first changed event; None for a stable stream
    magnitude: float = 0.0
    abrupt: bool = True


NUMERIC_SCENARIOS: list[tuple[str, str, float, int]] = [
    # name, kind, magnitude (std), transition width (0 = abrupt)
    ("mean_abrupt_0.5", "mean", 0.5, 0),
    ("mean_abrupt_1.0", "mean", 1.0, 0),
    ("mean_abrupt_1.5", "mean", 1.5, 0),
    ("mean_abrupt_2.0", "mean", 2.0, 0),
    ("mean_gradual_0.5", "mean", 0.5, 1000),
    ("mean_gradual_1.0", "mean", 1.0, 1000),
    ("mean_gradual_2.0", "mean", 2.0, 1000),
    ("std_abrupt_0.5", "std", 0.5, 0),
    ("std_abrupt_1.0", "std", 1.0, 0),
    ("std_abrupt_2.0", "std", 2.0, 0),
    ("std_gradual_1.0", "std", 1.0, 1000),
]


def numeric_stream(name: str, kind: str, magnitude: float, width: int, seed: int, post: int) -> Stream:
    """Mean ``mu``, std 1 before the change; mean + magnitude std (or std x (1 + magnitude)) after."""
    rng = np.random.default_rng(seed)
    pre = int(rng.integers(3000, 6000))
    mu = float(rng.uniform(-5, 5))
    n = pre + post
    t = np.arange(n)
    ramp = np.clip((t - pre + 1) / width, 0, 1) if width else (t >= pre).astype(float)
    noise = rng.standard_normal(n)
    x = mu + noise + magnitude * ramp if kind == "mean" else mu + noise * (1.0 + magnitude * ramp)
    return Stream(name, "numeric", seed, x.tolist(), pre, magnitude, width == 0)


def stable_numeric(seed: int, n: int) -> Stream:
    rng = np.random.default_rng(10_000 + seed)
    x = float(rng.uniform(-5, 5)) + rng.standard_normal(n)
    return Stream("stable", "numeric", seed, x.tolist(), None)


def _xy(gen: object, n: int) -> tuple[np.ndarray, np.ndarray]:
    rows = list(itertools.islice(gen, n))  # type: ignore[call-overload]
    keys = sorted(rows[0][0])
    x = np.array([[float(r[0][k]) for k in keys] for r in rows])
    y = np.array([int(r[1]) for r in rows])
    return x, y


class _Continue:
    """A dataset view that continues an iterator, so the model's training rows are never scored."""

    n_samples = None

    def __init__(self, it: Iterator[tuple[dict[str, float], object]], like: object) -> None:
        self._it = it
        self.n_features = like.n_features  # type: ignore[attr-defined]
        self.n_classes = like.n_classes  # type: ignore[attr-defined]
        self.n_outputs = getattr(like, "n_outputs", None)
        self.task = like.task  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[tuple[dict[str, float], object]]:
        return self._it


def _generators(kind: str, seed: int) -> tuple[Iterator[tuple[dict[str, float], object]], object]:
    """(the first concept's rows: training then scoring, the second concept) for one generator."""
    if kind == "sea":
        return iter(synth.SEA(0, 0.1, seed)), synth.SEA(3, 0.1, seed + 1)
    if kind == "agrawal":
        return iter(synth.Agrawal(0, seed, perturbation=0.05)), synth.Agrawal(2, seed + 1, perturbation=0.05)
    if kind == "hyperplane":
        # The generator's seed fixes its hyperplane: another seed is another concept.
        return (
            iter(synth.Hyperplane(seed, n_features=5, noise_percentage=0.05)),
            synth.Hyperplane(seed + 7919, n_features=5, noise_percentage=0.05),
        )
    raise ValueError(kind)


ERROR_SCENARIOS: list[tuple[str, str, int]] = [
    ("sea_abrupt", "sea", 50),
    ("sea_gradual", "sea", 1000),
    ("agrawal_abrupt", "agrawal", 50),
    ("hyperplane_abrupt", "hyperplane", 50),
    ("label_function_abrupt", "label_function", 0),
    ("label_function_gradual", "label_function", 1000),
]


def _label_function_errors(seed: int, pre: int, post: int, width: int) -> list[float]:
    """y = 1[x0 + x1 > 0] (10% noise) becomes y = 1[x0 - 0.5 x1 > 0]; the features do not move."""
    rng = np.random.default_rng(seed)
    train = rng.standard_normal((2000, 3))
    ytr = ((train[:, 0] + train[:, 1] > 0) ^ (rng.random(2000) < 0.1)).astype(int)
    model = LogisticRegression().fit(train, ytr)
    n = pre + post
    x = rng.standard_normal((n, 3))
    t = np.arange(n)
    p_new = np.clip((t - pre + 1) / width, 0, 1) if width else (t >= pre).astype(float)
    new = rng.random(n) < p_new
    y = np.where(new, x[:, 0] - 0.5 * x[:, 1] > 0, x[:, 0] + x[:, 1] > 0) ^ (rng.random(n) < 0.1)
    errors: list[float] = (model.predict(x) != y.astype(int)).astype(float).tolist()
    return errors


def error_stream(name: str, kind: str, width: int, seed: int, post: int) -> Stream:
    rng = np.random.default_rng(seed)
    pre = int(rng.integers(3000, 6000))
    if kind == "label_function":
        return Stream(name, "error", seed, _label_function_errors(seed, pre, post, width), pre, 0.0, width == 0)
    first, after = _generators(kind, seed)
    xtr, ytr = _xy(first, 2000)
    model = DecisionTreeClassifier(max_depth=8, random_state=seed).fit(xtr, ytr)
    # ConceptDriftStream's sigmoid is centred on ``position``: the change starts width/2 earlier.
    position = pre + width // 2
    stream = synth.ConceptDriftStream(
        cast(Any, _Continue(first, after)), cast(Any, after), position=position, width=width, seed=seed
    )
    x, y = _xy(stream, pre + post)
    errors = (model.predict(x) != y).astype(float).tolist()
    return Stream(name, "error", seed, errors, pre, 0.0, width <= 50)


def stable_error(kind: str, seed: int, n: int) -> Stream:
    if kind == "label_function":
        return Stream("stable_label_function", "error", seed, _label_function_errors(seed, n, 0, 0), None)
    first, _ = _generators(kind, seed)
    xtr, ytr = _xy(first, 2000)
    model = DecisionTreeClassifier(max_depth=8, random_state=seed).fit(xtr, ytr)
    x, y = _xy(first, n)
    return Stream(f"stable_{kind}", "error", seed, (model.predict(x) != y).astype(float).tolist(), None)

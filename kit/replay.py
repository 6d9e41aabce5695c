"""The monitored pipeline, in-process: loadgen traffic -> FeatureVectors -> a LightGBM model -> predictions.

The drift service's end-to-end proof and its throughput benchmark feed it what the real pipeline
would: loadgen's generator and fault plugins make the interactions and their hidden outcome, the
feature service's pure functions make the FeatureVectors (member and job window counts included),
the trainer's pure code trains a LightGBM model on a warm-up slice and builds its reference profile,
inference's pure scorer makes the Predictions, and the delayed Labels come from loadgen's ground
truth, released in event-time order once their delay has passed.

Time: event time advances ``DT_MS`` per interaction, so the feature windows (1 hour per member,
10 minutes per job) reach their steady state within the pre-roll. By default the traffic model's
daily seasonality is frozen (``time_scale=0``); ``time_scale`` and ``dt_ms`` replay seasonal traffic
(720 and 1000/150: one simulated day in two minutes at 150 interactions/s, as ``loadgen run
--time-scale 720`` sends it).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loadgen.faults.base import Fault
from loadgen.faults.registry import create as create_fault
from loadgen.traffic import Emission, TrafficConfig, TrafficGenerator
from services.common.model.bundle import LabelledRow, ModelBundle, fit_spec
from services.common.model.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from services.feature.handlers import (
    JOB_BUCKET_MS,
    JOB_WINDOW_MS,
    MEMBER_BUCKET_MS,
    MEMBER_WINDOW_MS,
    add_to_window,
    feature_vector,
)
from services.inference.handlers import score_feature_vectors
from services.inference.holder import LoadedModel
from services.trainer.fitting import build_profile, evaluate, train
from services.trainer.handlers import model_event

DT_MS = 360  # event time between interactions: 10,000 interactions per hour
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MODEL_NAME = "job_apply"
PREROLL = 12_000  # fills the 1-hour member windows before anything is used
TRAIN_ROWS = 6_000


def at_s(index: int) -> float:
    """Traffic time (seconds) of interaction ``index``: where a fault must start to hit it."""
    return index * DT_MS / 1000.0


@dataclass
class Batch:
    features: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.features) + len(self.predictions) + len(self.labels)


class Pipeline:
    """One seeded world with its faults; :meth:`model` then :meth:`batches` give everything to send."""

    def __init__(
        self,
        seed: int = 7,
        faults: Sequence[Fault] = (),
        run_id: str = "",
        *,
        dt_ms: float = DT_MS,
        time_scale: float = 0.0,
        member_window_ms: tuple[int, int] = (MEMBER_WINDOW_MS, MEMBER_BUCKET_MS),
        job_window_ms: tuple[int, int] = (JOB_WINDOW_MS, JOB_BUCKET_MS),
    ) -> None:
        config = TrafficConfig(seed=seed, time_scale=time_scale, run_id=run_id)
        self.gen = TrafficGenerator(config, faults)
        self.dt_ms = dt_ms
        self.member_window = member_window_ms
        self.job_window = job_window_ms
        self.counter = 0
        self._members: dict[str, dict[str, int]] = {}
        self._jobs: dict[str, dict[str, int]] = {}
        self._labels: list[tuple[int, int, dict[str, Any]]] = []  # (due ms, counter, label): a heap
        self.live: LoadedModel | None = None

    def step(self) -> tuple[dict[str, Any], Emission]:
        """The next interaction as a FeatureVector, with its emission (true outcome, label delay)."""
        i = self.counter
        ts = T0_MS + int(i * self.dt_ms)
        em = self.gen.next(i, i * self.dt_ms / 1000.0, ts)
        ev = em.event
        self._members[ev["member_id"]], member_views = add_to_window(
            self._members.get(ev["member_id"]), ts, *self.member_window
        )
        self._jobs[ev["job_id"]], job_views = add_to_window(self._jobs.get(ev["job_id"]), ts, *self.job_window)
        self.counter += 1
        return feature_vector(ev, member_views, job_views, "feature", ts), em

    def skip(self, n: int) -> None:
        for _ in range(n):
            self.step()

    def model(self, rows: int = TRAIN_ROWS, version: int = 1, rounds: int = 60) -> dict[str, Any]:
        """Train on the next ``rows`` interactions (not sent); returns the ModelPublished event (live)."""
        data = [self.step() for _ in range(rows)]
        labelled = [
            LabelledRow(
                fv["interaction_id"],
                datetime.fromtimestamp(fv["interaction_ts"] / 1000, UTC),
                fv["numeric"],
                fv["categorical"],
                em.applied,
            )
            for fv, em in data
        ]
        cut = int(len(labelled) * 0.8)
        spec = fit_spec(labelled[:cut], list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES))
        bundle = ModelBundle(train(labelled[:cut], spec, num_boost_round=rounds), spec)
        metrics = evaluate([r.label for r in labelled[cut:]], bundle.predict_rows(labelled[cut:]))
        self.live = LoadedModel(MODEL_NAME, version, bundle, metrics)
        event = model_event(
            source="trainer",
            model_name=MODEL_NAME,
            version=version,
            status="live",
            artifact_uri=f"memory://{MODEL_NAME}/{version}",
            metrics=metrics,
            params={"num_boost_round": rounds},
            reason="first model",
            previous_version=None,
            profile=build_profile(labelled[:cut], spec),
        )
        # Event time is this pipeline's clock: the model goes live just after its last training row.
        event["ts"] = T0_MS + int(self.counter * self.dt_ms)
        return event

    def batches(self, n: int, size: int = 500) -> Iterator[Batch]:
        """The next ``n`` interactions as Kafka-ready batches; labels leave once their delay has passed."""
        if self.live is None:
            raise RuntimeError("train the model first: predictions need it")
        left = n
        while left > 0:
            batch = Batch()
            emissions = []
            for _ in range(min(size, left)):
                fv, em = self.step()
                batch.features.append(fv)
                emissions.append(em)
            left -= len(batch.features)
            batch.predictions = score_feature_vectors(self.live, batch.features, "inference")
            for fv, p in zip(batch.features, batch.predictions, strict=True):
                p["ts"] = fv["interaction_ts"]  # scored as it happened, on this pipeline's clock
            for fv, em in zip(batch.features, emissions, strict=True):
                due = fv["interaction_ts"] + int(em.label_delay_s * 1000)
                heapq.heappush(self._labels, (due, em.counter, em.label(due)))
            now = batch.features[-1]["interaction_ts"]
            while self._labels and (self._labels[0][0] <= now or left == 0):
                batch.labels.append(heapq.heappop(self._labels)[2])
            yield batch


def with_fault(name: str, start_index: int, duration: int | None = None, **params: str) -> Fault:
    """A loadgen fault that hits interactions from ``start_index`` on (for ``duration`` of them)."""
    return create_fault(name, at_s(start_index), None if duration is None else at_s(duration), params or None)

"""Pure logic of inference: scoring FeatureVector batches, reading control events, online-store rows."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from services.common.commands import command_for
from services.common.events import derived_id, header
from services.common.model.bundle import FeatureSpec
from services.inference.holder import LoadedModel

INFERENCE_COMMANDS = ("reload",)


def score_feature_vectors(
    model: LoadedModel, vectors: Sequence[Mapping[str, Any]], source: str = "inference"
) -> list[dict[str, Any]]:
    """One Prediction per FeatureVector, scored in one model call; ids derive from the input ids."""
    started = time.perf_counter()
    scores = model.bundle.predict([v["numeric"] for v in vectors], [v["categorical"] for v in vectors])
    latency_ms = (time.perf_counter() - started) * 1000.0
    return [
        {
            **header(source, event_id=derived_id("prediction", v["event_id"])),
            "interaction_id": v["interaction_id"],
            "member_id": v["member_id"],
            "job_id": v["job_id"],
            "score": float(score),
            "model_name": model.name,
            "model_version": model.version,
            "latency_ms": latency_ms,
            "interaction_ts": _epoch_ms(v.get("interaction_ts")),
        }
        for v, score in zip(vectors, scores, strict=True)
    ]


def _epoch_ms(value: Any) -> int | None:
    """A FeatureVector's interaction time as epoch ms (the codec may decode it to a datetime)."""
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return int(value.timestamp() * 1000)
    return int(value)


ControlAction = Literal["refresh", "reload"]


def control_action(
    topic: str, value: Mapping[str, Any], model_name: str, target: str, since_ms: int
) -> ControlAction | None:
    """What a control event asks of this replica.

    ``refresh``: a model event for our model; re-read the live pointer (the registry is committed
    before the event is sent) and load it if it changed. ``reload``: an operator's reload command;
    load the live version again even if unchanged. Events older than ``since_ms`` are already
    reflected in what was loaded at start.
    """
    if int(value.get("ts", 0)) < since_ms:
        return None
    if topic == "model.events":
        return "refresh" if value.get("model_name") == model_name else None
    if topic == "commands" and command_for(value, target, INFERENCE_COMMANDS) is not None:
        return "reload"
    return None


def unknown_features(spec: FeatureSpec, numeric: Mapping[str, Any], categorical: Mapping[str, Any]) -> list[str]:
    """Names a client sent that the model does not have (a typo would otherwise score as missing)."""
    bad = [f"numeric.{k}" for k in numeric if k not in spec.numeric]
    return bad + [f"categorical.{k}" for k in categorical if k not in spec.categorical]


def merge_online_features(
    spec: FeatureSpec, hashes: Sequence[Mapping[str, str]]
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Turn online-store hashes (feature -> text) into the model's numeric and categorical maps.

    Later hashes win; fields the model does not use are ignored; an empty or non-numeric text
    for a numeric feature counts as missing.
    """
    merged: dict[str, str] = {}
    for h in hashes:
        merged.update(h)
    numeric: dict[str, float | None] = {}
    for name in spec.numeric:
        text = merged.get(name)
        if text is None:
            continue
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        numeric[name] = value if math.isfinite(value) else None
    categorical = {name: merged[name] for name in spec.categorical if merged.get(name)}
    return numeric, categorical

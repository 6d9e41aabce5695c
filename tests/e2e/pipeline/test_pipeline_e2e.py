"""The monitored pipeline end to end: loadgen -> ingest -> feature -> inference, with the trainer.

The four services run as real processes on their own topics, PostgreSQL schema, ports and data
dirs. Two minutes of steady traffic with a share of contract-breaking events must end with every
interaction accounted for exactly once: valid ones scored (one prediction), broken ones
dead-lettered, none lost, none both. The first model is trained by the trainer on its own from
the run's labelled rows, and every prediction carries a model version.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from kit.kafka import avro_decoder, read_to_end
from kit.pipeline import Pipeline
from services.common.codec import CodecError
from services.common.settings import CommonSettings
from services.ingest.contract import Contract

pytestmark = [pytest.mark.timeout(330)]

RATE = 150.0
DURATION_S = 120.0
BREAK_SHARE = 0.03


def _interaction(raw: bytes, decode: Any) -> dict[str, Any]:
    """An interactions.raw message as loadgen meant it: Avro, or the JSON a schema break sends."""
    try:
        return dict(decode(raw))
    except CodecError:
        return dict(json.loads(raw))


def _ids_of_raw(dead: dict[str, Any], decode: Any) -> str | None:
    try:
        return str(_interaction(dead["raw"], decode)["event_id"])
    except (ValueError, KeyError, TypeError):
        return None


def test_every_interaction_is_scored_or_dead_lettered_once(pipeline: Pipeline) -> None:
    settings = CommonSettings(topic_prefix=pipeline.prefix, log_to_kafka=False)
    boot = settings.kafka_bootstrap
    started = time.monotonic()
    pipeline.wait_up(timeout_s=90)
    print(f"services up after {time.monotonic() - started:.1f} s")

    run_id = uuid.uuid4().hex[:8]
    loadgen = pipeline.loadgen(
        RATE,
        DURATION_S,
        run_id,
        extra=[
            "--fault",
            "schema_break",
            "--fault-at",
            "3",
            "--fault-duration",
            str(DURATION_S),
            "--fault-param",
            f"rate={BREAK_SHARE}",
        ],
    )
    try:
        out, _ = loadgen.communicate(timeout=DURATION_S + 60)
    finally:
        if loadgen.poll() is None:
            loadgen.kill()
    run_end_ms = int(time.time() * 1000)
    assert loadgen.returncode == 0, (pipeline.work_dir / "loadgen.log").read_text()[-2000:]
    stats = json.loads(out.decode().strip().splitlines()[-1])
    pipeline.check_alive()

    # What was sent, and which of it the contract accepts.
    decode_interaction = avro_decoder(settings, "interactions.raw")
    raw_topic = settings.topic("interactions.raw")
    sent = [_interaction(v, decode_interaction) for v, _ in read_to_end(boot, raw_topic, lambda b: b)]
    contract = Contract.load()
    valid = {e["event_id"] for e in sent if contract.check(e).ok}
    broken = {e["event_id"] for e in sent} - valid
    assert len(sent) == stats["sent"] == len(valid) + len(broken), (len(sent), stats)
    assert broken, "the schema_break fault broke no event"

    # Wait (bounded) until every interaction has its prediction or dead letter.
    decode_prediction = avro_decoder(settings, "predictions")
    decode_dead = avro_decoder(settings, "deadletter")
    deadline = time.monotonic() + 75
    while True:
        predictions = [v for v, _ in read_to_end(boot, settings.topic("predictions"), decode_prediction)]
        dead = [v for v, _ in read_to_end(boot, settings.topic("deadletter"), decode_dead)]
        scored = {p["interaction_id"] for p in predictions}
        dead_ids = {_ids_of_raw(d, decode_interaction) for d in dead}
        missing = (valid - scored) | (broken - dead_ids)
        if not missing or time.monotonic() > deadline:
            break
        pipeline.check_alive()
        time.sleep(2.0)

    by_interaction: dict[str, set[str]] = {}
    for p in predictions:
        by_interaction.setdefault(p["interaction_id"], set()).add(p["event_id"])
    deliveries = Counter(p["event_id"] for p in predictions)
    duplicate_deliveries = sum(n - 1 for n in deliveries.values() if n > 1)
    dead_counts = Counter(_ids_of_raw(d, decode_interaction) for d in dead)
    lag = pipeline.lag()
    print(
        f"\nE2E: sent {len(sent)} interactions in {stats['elapsed_s']} s ({stats['rate']}/s), "
        f"{len(valid)} valid, {len(broken)} contract-breaking; "
        f"{len(predictions)} predictions for {len(scored)} interactions "
        f"({duplicate_deliveries} duplicate deliveries of the same prediction), "
        f"{len(dead)} dead letters for {len(dead_ids - {None})} interactions; "
        f"missing {len(missing)}; lag at the end {lag}"
    )

    # Nothing lost: each valid interaction scored, each broken one dead-lettered.
    assert not (valid - scored), f"{len(valid - scored)} valid interactions without a prediction"
    assert not (broken - dead_ids), f"{len(broken - dead_ids)} broken interactions not dead-lettered"
    # Exactly one outcome: never both, never two different predictions, nothing unexpected.
    assert not (scored & broken), "contract-breaking interactions were scored"
    assert not (dead_ids & valid), "valid interactions were dead-lettered"
    assert scored <= valid and None not in dead_ids
    assert all(len(ids) == 1 for ids in by_interaction.values()), "an interaction got two different predictions"
    assert all(n == 1 for n in dead_counts.values()), "an interaction was dead-lettered twice"
    assert {d["error_type"] for d in dead} <= {"contract", "decode"}
    assert {d["topic"] for d in dead} == {"interactions.raw"}

    # The first model was trained by the trainer during the run, and predictions carry it.
    decode_model = avro_decoder(settings, "model.events")
    models = [v for v, _ in read_to_end(boot, settings.topic("model.events"), decode_model)]
    live = [m for m in models if m["status"] == "live"]
    assert live, f"no model published: {models}"
    first = min(live, key=lambda m: m["ts"])
    print(
        f"first model: v{first['version']} at +{(first['ts'] - min(e['ts'] for e in sent)) / 1000:.1f} s "
        f"into the run, AUC {first['metrics'].get('auc', float('nan')):.3f} on "
        f"{first['metrics'].get('train_rows', 0):.0f} training rows"
    )
    assert first["version"] == 1 and first["ts"] < run_end_ms
    versions = Counter(p["model_version"] for p in predictions)
    print(f"predictions per model version: {dict(versions)}")
    assert min(versions) >= 1
    assert all(p["ts"] >= first["ts"] for p in predictions), "a prediction predates the first model"
    assert pipeline.model_version() == 1

"""Artifact store (atomic, verified), commands and rollback selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.common.commands import CommandError
from services.common.model import artifacts
from services.common.model.bundle import ModelBundle, fit_spec
from services.trainer import handlers
from services.trainer.fitting import train
from services.trainer.synthetic import make_rows


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    rows = make_rows(600, seed=11)
    spec = fit_spec(rows)
    return ModelBundle(train(rows, spec, num_boost_round=20), spec)


def test_saved_model_predicts_the_same_after_loading(tmp_path: Path, bundle: ModelBundle) -> None:
    uri = artifacts.save_bundle(tmp_path, "job_apply", 4, bundle, {"metrics": {"auc": 0.8}})
    assert uri.startswith("file://") and uri.endswith("/job_apply/v4")
    loaded = artifacts.load_bundle(uri)
    rows = make_rows(50, seed=12)
    assert np.allclose(loaded.predict_rows(rows), bundle.predict_rows(rows))
    assert loaded.spec == bundle.spec
    assert loaded.meta["version"] == 4 and loaded.meta["metrics"] == {"auc": 0.8}
    leftovers = [p.name for p in Path(artifacts.path_of(uri)).iterdir()]
    assert sorted(leftovers) == ["model.json", "model.txt"]  # no temp files left behind


def test_corrupt_or_incomplete_artifacts_are_refused(tmp_path: Path, bundle: ModelBundle) -> None:
    uri = artifacts.save_bundle(tmp_path, "m", 1, bundle)
    booster = artifacts.path_of(uri) / "model.txt"
    booster.write_text(booster.read_text().replace("num_leaves", "num_leafs", 1))
    with pytest.raises(artifacts.ArtifactError, match="checksum"):
        artifacts.load_bundle(uri)
    uri2 = artifacts.save_bundle(tmp_path, "m", 2, bundle)
    (artifacts.path_of(uri2) / "model.json").unlink()
    with pytest.raises(artifacts.ArtifactError, match=r"no model\.json"):
        artifacts.load_bundle(uri2)
    with pytest.raises(artifacts.ArtifactError, match="only file://"):
        artifacts.load_bundle("s3://bucket/m/v1")


def test_commands_for_the_trainer_are_parsed_and_checked() -> None:
    base = {"event_id": "e1", "ts": 0, "source": "healer", "reason": "drift", "incident_id": "inc-1"}
    assert handlers.parse_command({**base, "command": "reload", "target": "inference", "params": {}}) is None
    cmd = handlers.parse_command(
        {**base, "command": "retrain", "target": "trainer", "params": {"force": "true", "max_rows": "5000"}}
    )
    assert cmd is not None and cmd.force and cmd.max_rows == 5000 and cmd.window_hours is None
    assert cmd.incident_id == "inc-1" and cmd.reason == "drift"
    with pytest.raises(CommandError, match="unknown trainer command 'reload'"):
        handlers.parse_command({**base, "command": "reload", "target": "trainer", "params": {}})
    with pytest.raises(CommandError, match="max_rows must be a finite number > 0"):
        handlers.parse_command({**base, "command": "retrain", "target": "trainer", "params": {"max_rows": "-3"}})
    with pytest.raises(CommandError, match="window_hours must be a float"):
        handlers.parse_command({**base, "command": "retrain", "target": "trainer", "params": {"window_hours": "x"}})
    with pytest.raises(CommandError, match="unknown retrain params"):
        handlers.parse_command({**base, "command": "retrain", "target": "trainer", "params": {"lr": "1"}})
    # the healer's command carries its context and asks for a gated retrain
    healer_params = {
        "action_id": "a-1",
        "fingerprint": "concept_drift:job_apply",
        "gated": "true",
        "incident_type": "concept_drift",
        "root_cause": "",
    }
    cmd = handlers.parse_command({**base, "command": "retrain", "target": "trainer", "params": healer_params})
    assert cmd is not None and not cmd.force
    ungated = handlers.parse_command({**base, "command": "retrain", "target": "trainer", "params": {"gated": "false"}})
    assert ungated is not None and ungated.force
    fresh = handlers.parse_command(
        {**base, "command": "retrain", "target": "trainer", "params": {"since_ms": "1700000000000"}}
    )
    assert fresh is not None and fresh.since_ms == 1_700_000_000_000
    with pytest.raises(CommandError, match="since_ms must be a int"):
        handlers.parse_command({**base, "command": "retrain", "target": "trainer", "params": {"since_ms": "soon"}})


def test_rollback_restores_the_last_version_that_was_not_rolled_back() -> None:
    # Live history newest first: v4 live now; v3 was rolled back earlier; v2 served before it.
    history = [(4, "live"), (2, "retired"), (3, "rolled_back"), (2, "retired"), (1, "retired")]
    assert handlers.rollback_target(history, current=4) == 2
    assert handlers.rollback_target([(1, "live")], current=1) is None
    assert handlers.rollback_target([(2, "live"), (1, "rolled_back")], current=2) is None

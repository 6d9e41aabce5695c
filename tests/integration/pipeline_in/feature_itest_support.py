"""Helpers for the feature worker tests: start it as a real process, send interactions, find their vectors."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from kit.kafka import read_topic
from kit.ports import free_port
from kit.procs import start_module
from services.common.bus import EventProducer
from services.common.settings import CommonSettings


def start_feature_worker(env: dict[str, str], data_dir: Path, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    """``python -m services.feature`` with its rocksdb under ``data_dir`` and its output in ``log``.

    Its HTTP server gets a free port unless ``env`` names one: the default 8002 may belong to a running demo.
    """
    env = {
        "AIG_HTTP_PORT": str(free_port()),
        **env,
        "AIG_DATA_DIR": str(data_dir),
        "AIG_WEB_PORT": "0",
        "AIG_LOG_TO_KAFKA": "false",
        "AIG_COMMIT_INTERVAL_S": "0.5",
        **extra,
    }
    return start_module("services.feature", env, log)


def send_interactions(settings: CommonSettings, events: list[dict[str, Any]]) -> None:
    producer = EventProducer(settings)
    for e in events:
        producer.produce("interactions.valid", e, key=e["member_id"])
    producer.flush()


def vector_for(settings: CommonSettings, interaction_id: str, timeout_s: float) -> dict[str, Any]:
    """The newest FeatureVector of ``interaction_id``; fails after ``timeout_s``."""
    found = read_topic(
        settings,
        "features",
        timeout_s=timeout_s,
        until=lambda rows: any(r["interaction_id"] == interaction_id for r in rows),
    )
    match: list[dict[str, Any]] = [r for r in found if r["interaction_id"] == interaction_id]
    assert match, f"no FeatureVector for {interaction_id} within {timeout_s} s"
    return match[-1]

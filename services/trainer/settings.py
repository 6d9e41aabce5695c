"""Trainer settings (``AIG_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import REPO_ROOT, CommonSettings


class TrainerSettings(CommonSettings):
    """How much data to train on, when to train the first model, and how strict the gate is."""

    service_name: str = "trainer"
    http_port: int = 8003
    model_name: str = "job_apply"
    artifact_dir: Path = Field(default=REPO_ROOT / "var" / "models", description="volume shared with inference")
    window_hours: float = Field(default=72.0, gt=0, description="train on rows this recent (from the newest)")
    max_rows: int = Field(default=100_000, ge=100)
    fresh_data_wait_s: float = Field(
        default=120.0, ge=0, description="a retrain on data since a change waits this long for min_rows of it"
    )
    min_rows: int = Field(default=1_000, ge=100, description="labelled rows needed before the first model")
    check_interval_s: float = Field(default=15.0, gt=0, description="how often to look for a first model")
    holdout_fraction: float = Field(default=0.2, gt=0, lt=0.9, description="newest share held out for the gate")
    min_holdout: int = Field(default=50, ge=10)
    gate_auc_tolerance: float = Field(default=0.005, ge=0)
    gate_logloss_tolerance: float = Field(default=0.005, ge=0)
    min_auc: float = Field(default=0.55, ge=0, le=1, description="floor for a model with nothing to beat")
    num_boost_round: int = Field(default=150, ge=1, le=5000)
    learning_rate: float = Field(default=0.08, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=2, le=4096)
    max_vocab: int = Field(default=200, ge=1)
    profile_bins: int = Field(default=10, ge=2, le=100)

"""Settings of the log-classifier (env prefix AIG_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from services.common.settings import REPO_ROOT, CommonSettings

DATA_DIR = Path(__file__).resolve().parent / "data"


class LogClassifierSettings(CommonSettings):
    """Classification, template mining and burst settings."""

    service_name: str = "logclassifier"
    http_port: int = 8006
    exemplars_path: Path = DATA_DIR / "exemplars.jsonl"
    model_path: Path | None = Field(default=None, description="sentence-transformers model dir; default: bundled")
    confidence_threshold: float = Field(default=0.35, ge=0, le=1, description="below it: root cause unknown")
    keyword_prior_weight: float = Field(default=1.5, ge=0, description="logit boost of regex cues; 0 disables")
    embedding_cache_size: int = Field(default=20_000, ge=1)
    max_message_chars: int = Field(default=2000, ge=100)
    drain_persistence: Literal["file", "redis", "none"] = "file"
    drain_state_path: Path = REPO_ROOT / "var" / "logclassifier" / "drain3_state.bin"
    drain_sim_th: float = Field(default=0.5, gt=0, le=1)
    drain_max_clusters: int = Field(default=10_000, ge=10)
    snapshot_interval_s: float = Field(default=30.0, gt=0, description="Drain3 state saved at most this often")
    burst_window_s: float = Field(default=60.0, gt=0)
    burst_min_count: int = Field(default=5, ge=1)
    burst_min_count_by_cause: dict[str, int] = Field(
        # A model load fails once per attempt (a reload, a new version): waiting for five never fires.
        default={"model_error": 1},
        description="records per window that make an incident, per root cause (default: burst_min_count)",
    )
    cooldown_s: float = Field(
        default=300.0, ge=0, description="an open incident closes after this long without a record of its problem"
    )
    update_interval_s: float = Field(
        default=10.0, gt=0, description="records of an open incident update it at most this often"
    )
    incident_on_unknown: bool = True
    min_level: str = Field(default="WARNING", description="records below this level count as benign")
    echo_loggers: list[str] = Field(
        # The healer's alerts quote incidents, and its health watch logs each outage it raises as one:
        # classifying them would turn each incident into another one.
        default=["services.healer.alerts", "services.healer.watch"],
        description="loggers whose records repeat incidents (alerts); counted as benign, never classified",
    )
    known_services: list[str] = Field(
        default=["ingest", "feature", "trainer", "inference", "drift", "logclassifier", "healer", "loadgen"]
    )

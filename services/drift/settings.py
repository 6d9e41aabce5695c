"""Drift service settings (``AIG_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import CommonSettings
from services.drift.config import DEFAULT_PATH


class DriftSettings(CommonSettings):
    service_name: str = "drift"
    http_port: int = 8005
    thresholds_path: Path = DEFAULT_PATH
    redis_prefix: str = Field(default="aig:drift:", description="namespace of every Redis key")
    pending_ttl_s: int = Field(default=7 * 86_400, gt=0, description="how long a prediction waits for its label")
    checkpoint_interval_s: float = Field(default=30.0, gt=0, description="detector state saved this often")
    max_partition_fetch_bytes: int = Field(
        default=32_768, gt=0, description="per-partition fetch size: small keeps partitions interleaved"
    )
    checkpoint_name: str = Field(
        default="", description="checkpoint key suffix; default the group id (one replica per group)"
    )
    season_period_s: float = Field(
        default=0.0,
        ge=0,
        description="length of the traffic's cycle (86400: a day; 0: no season); references are kept per phase of it",
    )

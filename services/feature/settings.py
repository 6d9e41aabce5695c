"""Feature service settings (``AIG_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import REPO_ROOT, CommonSettings


class FeatureSettings(CommonSettings):
    service_name: str = "feature"
    http_port: int = 8002
    app_id: str = Field(default="aig-feature", description="faust app id (consumer group, changelog names)")
    data_dir: Path = Field(default=REPO_ROOT / "var" / "feature", description="faust table stores (rocksdb)")
    store: str = Field(default="rocksdb://", description="faust table store: rocksdb:// or memory://")
    member_window_s: int = Field(default=3600, ge=1, description="window of the member_views feature")
    job_window_s: int = Field(default=600, ge=1, description="window of the job_views feature")
    web_port: int = Field(
        default=0, description="faust's own web server on 127.0.0.1 (0: off; /health and /metrics are on http_port)"
    )
    redis_key_prefix: str = Field(default="features:", description="online store keys: <prefix>member:<id>, ...")
    online_ttl_s: int = Field(default=7 * 86400, ge=60)
    pair_ttl_s: int = Field(default=86400, ge=60)
    run_offline_sink: bool = Field(default=True, description="also write features and labels to PostgreSQL")
    offline_group_id: str = "feature-offline"
    online_flush_s: float = Field(default=0.02, gt=0, description="online store writes are batched this long")
    online_max_pending: int = Field(default=5000, ge=1, description="hashes waiting before a write is forced")
    producer_linger_s: float = Field(default=0.005, ge=0, description="faust producer batching delay")
    commit_interval_s: float = Field(default=1.0, gt=0, description="faust offset commit interval")

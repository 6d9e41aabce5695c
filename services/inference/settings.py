"""Inference settings (``AIG_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class InferenceSettings(CommonSettings):
    """Which model to serve, HTTP limits and where the online feature store lives."""

    service_name: str = "inference"
    http_port: int = 8004
    model_name: str = "job_apply"
    max_request_rows: int = Field(default=10_000, ge=1, description="rows accepted by one POST /predict")
    offload_rows: int = Field(
        default=64, ge=1, description="requests with more rows are scored in a worker thread, off the event loop"
    )
    redis_key_prefix: str = Field(
        default="features:",
        description="the online store's keys, as the feature service writes them: <prefix>member:<id>, ...",
    )
    replay_margin_s: float = Field(
        default=5.0, ge=0, description="control events older than start minus this are already in the registry"
    )

"""Ingest settings (``AIG_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import CommonSettings
from services.ingest.contract import DEFAULT_CONTRACT


class IngestSettings(CommonSettings):
    service_name: str = "ingest"
    http_port: int = 8001
    contract_path: Path = DEFAULT_CONTRACT
    max_http_events: int = Field(default=10_000, ge=1, description="events accepted in one POST /events")
    http_delivery_timeout_s: float = Field(default=10.0, gt=0, description="wait for Kafka before answering")

"""Loadgen settings: the shared connection settings (``AIG_*`` environment variables)."""

from __future__ import annotations

from services.common.settings import CommonSettings


class LoadgenSettings(CommonSettings):
    service_name: str = "loadgen"
    log_to_kafka: bool = False

"""Quarantine: ingest stops forwarding interactions until resumed."""

from services.healer.actions.base import CommandAction


class PauseIngest(CommandAction):
    name = "pause_ingest"
    command = "pause_ingest"
    extra = {"mode": "quarantine"}

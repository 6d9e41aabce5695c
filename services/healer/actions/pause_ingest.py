"""Quarantine: ingest stops forwarding interactions until resumed."""

from services.healer.actions.base import CommandAction


class PauseIngest(CommandAction):
    """Stop bad data at the door (skew, data quality, schema breaks) before the model learns from it."""

    name = "pause_ingest"
    command = "pause_ingest"
    targets = frozenset({"ingest"})
    extra = {"mode": "quarantine"}

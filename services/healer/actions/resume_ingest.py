"""Lift the ingest quarantine."""

from services.healer.actions.base import CommandAction


class ResumeIngest(CommandAction):
    """Let interactions through again once the upstream fault is fixed."""

    name = "resume_ingest"
    command = "resume_ingest"
    targets = frozenset({"ingest"})

"""Lift the ingest quarantine."""

from services.healer.actions.base import CommandAction


class ResumeIngest(CommandAction):
    name = "resume_ingest"
    command = "resume_ingest"

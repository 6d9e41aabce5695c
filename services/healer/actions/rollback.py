"""Ask the trainer to roll the live model back to the previous good version."""

from services.healer.actions.base import CommandAction


class Rollback(CommandAction):
    name = "rollback"
    command = "rollback"

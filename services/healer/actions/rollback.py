"""Ask the trainer to roll the live model back to the previous good version."""

from services.healer.actions.base import CommandAction


class Rollback(CommandAction):
    """Undo a bad model: the previous version was good, and the trainer's answer proves the rollback."""

    name = "rollback"
    command = "rollback"
    targets = frozenset({"trainer"})
    verifications = CommandAction.verifications | {"model_rolled_back"}

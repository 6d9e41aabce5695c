"""Ask the trainer for a gated retrain: the candidate goes live only if it beats the live model."""

from services.healer.actions.base import CommandAction


class Retrain(CommandAction):
    name = "retrain"
    command = "retrain"
    extra = {"gated": "true"}

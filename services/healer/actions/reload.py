"""Ask inference to reload its live model from the registry."""

from services.healer.actions.base import CommandAction


class Reload(CommandAction):
    name = "reload"
    command = "reload"

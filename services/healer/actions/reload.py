"""Ask inference to reload its live model from the registry."""

from services.healer.actions.base import CommandAction


class Reload(CommandAction):
    """Reload the live model: inference may serve a stale or half-loaded one after an error."""

    name = "reload"
    command = "reload"
    targets = frozenset({"inference"})

"""Healing actions: one module per action, looked up by name in :mod:`.registry`."""

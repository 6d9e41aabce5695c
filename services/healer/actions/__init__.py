"""Healing actions: one module per action, built through :mod:`.registry` (contract in :mod:`.base`)."""

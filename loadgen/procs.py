"""Child processes and ports of a run, from the shared kit (kept under this name for existing importers)."""

from __future__ import annotations

from kit.ports import free_port
from kit.procs import terminate

__all__ = ["free_port", "terminate"]

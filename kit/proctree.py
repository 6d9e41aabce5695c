"""Memory and CPU of a process together with every process it forked, read from /proc.

A service that forks (a worker pool, a helper binary) holds memory and burns CPU outside its own pid;
a leak check that read the parent alone would miss it. Gone processes count as zero: a child can
exit between the listing and the read.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren...), from one scan of /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children[int(fields[1])].append(int(entry.name))  # field 4 of stat: the parent pid
    found: list[int] = []
    todo = list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, ()))
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (VmRSS of /proc/<pid>/status); 0 once it is gone."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        return 0
    return 0  # a zombie has no VmRSS line


def cpu_seconds_total(pid: int) -> float:
    """User + system CPU of one process and of the children it has already reaped (cutime, cstime)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks  # fields 14-17 of stat


@dataclass(frozen=True)
class TreeUsage:
    """One reading of a process tree: resident bytes, CPU seconds so far, and how many processes it holds."""

    rss_bytes: int
    cpu_s: float
    processes: int


def tree_usage(pid: int) -> TreeUsage:
    """Memory and CPU of ``pid`` and all its live descendants; reaped children's CPU is in their parent's
    cutime/cstime, so nothing is counted twice."""
    pids = [pid, *descendants(pid)]
    alive = [p for p in pids if (PROC / str(p)).exists()]
    return TreeUsage(
        rss_bytes=sum(rss_bytes(p) for p in alive),
        cpu_s=sum(cpu_seconds_total(p) for p in alive),
        processes=len(alive),
    )

"""Child processes of a run: start ``python -m <module>`` with its output in a log, and always end it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import REPO_ROOT

KILL_WAIT_S = 10.0  # after SIGKILL: only a process stuck in the kernel takes longer


def start_module(
    module: str,
    env: Mapping[str, str],
    log: Path,
    args: Sequence[str] = (),
    *,
    truncate: bool = False,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """``python -m module *args`` from the repository root, stdout and stderr appended to ``log``.

    The parent closes its handle of the log at once: the child keeps its own. ``new_session`` keeps a
    terminal's Ctrl-C away from the child, so the caller decides how it ends.
    """
    with log.open("wb" if truncate else "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=new_session,
        )


def terminate(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> int:
    """SIGTERM (the child finishes what it holds), SIGKILL when it has not exited within ``timeout_s``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(KILL_WAIT_S)
    return int(proc.returncode)


def terminate_all(procs: Iterable[subprocess.Popen[bytes]], timeout_s: float) -> list[int]:
    """SIGTERM to every process first, then one shared ``timeout_s`` for all of them before SIGKILL."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    return [terminate(proc, max(0.1, deadline - time.monotonic())) for proc in procs]


@dataclass
class Proc:
    """A started service: its process, its log and the HTTP port it was given (0: none)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    @property
    def pid(self) -> int:
        return int(self.popen.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
        return terminate(self.popen, timeout_s)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)

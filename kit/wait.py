"""One bounded wait: poll until something holds, and when it does not, say what was awaited and where to look."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")

IN_PROCESS_LOG = "the captured log of this test"


class WaitTimeout(AssertionError):
    """What was awaited did not happen in time (an AssertionError: a test reports it as a failed check)."""


def wait_until(
    probe: Callable[[], T | None],
    timeout_s: float,
    what: str,
    log: Path | str,
    proc: subprocess.Popen[bytes] | None = None,
    every_s: float = 0.05,
) -> T:
    """Poll ``probe`` until it returns something truthy and return that; fail after ``timeout_s`` (or as
    soon as ``proc`` exits) with ``what`` and the log to read (a file, or IN_PROCESS_LOG)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            raise WaitTimeout(f"{what}: the process exited with {proc.returncode}; read {log}")
        if time.monotonic() > deadline:
            raise WaitTimeout(f"{what}: not within {timeout_s:.0f} s; read {log}")
        time.sleep(every_s)


def poll(probe: Callable[[], T | None], timeout_s: float, every_s: float = 0.05) -> T | None:
    """Like :func:`wait_until` for a caller that decides itself what a timeout means: the first truthy
    answer of ``probe``, or its last (falsy) one after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(every_s)


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """GET ``url`` answers 200 (a probe: no answer at all is False too)."""
    try:
        return httpx.get(url, timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False

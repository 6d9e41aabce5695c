"""The demo's traffic: one loadgen process at a time, handed over to a new one for every change of faults.

Every process reads the simulated hour off the wall clock from one anchor, so the simulated day
goes on across a hand-over; the new process gets ready while the old one still sends and starts
when it stops, so the stream has no gap.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from kit.procs import terminate
from loadgen.stack import Stack, StackError
from loadgen.traffic import aligned_start_hour
from services.common.events import now_ms

FaultSpec = tuple[str, float | None, dict[str, str]]  # loadgen fault, seconds long (None: to the end), params


class Traffic:
    """The loadgen process of the demo, restarted with another fault set on a continuous simulated clock."""

    def __init__(self, stack: Stack, rate: float, time_scale: float) -> None:
        self.stack = stack
        self.rate = rate
        self.time_scale = time_scale
        self.anchor_ms = now_ms()
        # Every process reads the hour off the wall clock from one anchor: a restart does not move the day.
        self.start_hour = aligned_start_hour(self.anchor_ms, time_scale)
        self.persistent: list[FaultSpec] = []
        self.proc: Any = None
        self.log = stack.dir / "loadgen.log"

    def restart(self, temporary: tuple[FaultSpec, ...] = (), lead_s: float = 6.0) -> None:
        """Hand the traffic over to a new loadgen with these faults: it gets ready while the old one
        still sends, and starts when the old one stops (whose pending labels are sent as it exits)."""
        specs = [*self.persistent, *temporary]
        params: dict[str, str] = {}
        for _, _, p in specs:
            for k, v in p.items():
                if params.setdefault(k, v) != v:  # loadgen hands a parameter to every fault that takes it
                    raise ValueError(f"faults {[s[0] for s in specs]} disagree on parameter {k}")
        offset = self.log.stat().st_size if self.log.exists() else 0
        start_at = now_ms() + int(lead_s * 1000) if self.proc is not None else now_ms()
        run_id = uuid.uuid4().hex[:8]  # new event ids; and the mark of this process in the shared log
        new = self.stack.loadgen(
            rate=self.rate,
            duration=7 * 86_400.0,
            run_id=run_id,
            faults=[(name, 0.0, d) for name, d, _ in specs],
            params=[f"{k}={v}" for k, v in params.items()],
            extra=[
                "--time-scale",
                f"{self.time_scale:g}",
                "--start-hour",
                f"{self.start_hour:.6f}",
                "--clock-anchor-ms",
                str(self.anchor_ms),
                "--start-at-ms",
                str(start_at),
            ],
        )
        time.sleep(max(0.0, (start_at - now_ms()) / 1000))
        self.stop()
        self.proc = new
        self._wait_started(offset, f"loadgen: run {run_id}:".encode())

    def _wait_started(self, offset: int, mark: bytes, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"loadgen exited with {self.proc.returncode}; see {self.log}")
            with open(self.log, "rb") as fh:
                fh.seek(offset)
                if mark in fh.read():
                    return
            time.sleep(0.2)
        raise StackError(f"loadgen did not start sending within {timeout_s:.0f} s; see {self.log}")

    def ensure_running(self) -> str:
        """Start the same traffic again if loadgen died under the demo; returns what happened ('' if fine)."""
        if self.proc is None or self.proc.poll() is None:
            return ""
        code = self.proc.returncode
        self.proc = None
        self.restart()  # persistent faults only: a timed one was over or is lost with its process
        return f"loadgen exited with {code} and was started again; see {self.log}"

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 30.0)  # it sends its pending labels as it exits
        self.proc = None

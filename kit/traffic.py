"""The command line of ``loadgen run``, built in one place for every harness that drives traffic."""

from __future__ import annotations

from collections.abc import Sequence

FaultAt = tuple[str, float] | tuple[str, float, float | None]  # name, seconds into the run[, seconds long]


def loadgen_args(
    *,
    rate: float,
    duration: float,
    run_id: str,
    seed: int | None = None,
    faults: Sequence[FaultAt] = (),
    params: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> list[str]:
    """The arguments of ``python -m loadgen`` for one quiet ``run``; faults are (name, seconds into the
    run[, seconds long]). Every harness that drives traffic builds them here, so they stay in step with the CLI."""
    args = ["run", "--rate", str(rate), "--duration", str(duration), "--run-id", run_id, "--quiet"]
    if seed is not None:
        args += ["--seed", str(seed)]
    args += extra
    timed = any(len(f) > 2 and f[2] is not None for f in faults)
    for name, at, *rest in faults:
        args += ["--fault", name, "--fault-at", str(at)]
        if timed:  # durations pair with faults by position: every fault then names one ("inf": no end)
            args += ["--fault-duration", str(rest[0]) if rest and rest[0] is not None else "inf"]
    for param in params:
        args += ["--fault-param", param]
    return args

"""Restart the container of a service through the Docker Engine API.

Only containers of this compose project are touched (found by the compose labels), so a policy
mistake can never restart a stranger's container. A container that was stopped on purpose (a clean
exit or SIGTERM: ``docker stop``, ``compose stop``) or never started is left alone: a forged incident
must not be able to bring back what a person switched off. Crashes (SIGKILL, OOM, a non-zero exit),
hangs and unhealthy containers are restarted.
"""

from __future__ import annotations

from typing import Any

from services.common.containers import PROJECT_LABEL, SERVICE_LABEL
from services.healer.actions.base import OBSERVED, Action, ActionContext, ActionResult, TargetMissing


def find_containers(client: Any, project: str, target: str, allowed_names: list[str]) -> list[Any]:
    """Containers of ``project`` whose compose service is ``target`` (or, if allowlisted, named so)."""
    found = client.containers.list(
        all=True, filters={"label": [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={target}"]}
    )
    if not found and target in allowed_names:
        found = [
            c
            for c in client.containers.list(all=True, filters={"name": target})
            if c.name == target and c.labels.get(PROJECT_LABEL) == project
        ]
    return list(found)


DELIBERATE_EXIT_CODES = (0, 143)  # a clean exit, or SIGTERM (128 + 15): what `docker stop` leaves


def stopped_on_purpose(container: Any) -> str | None:
    """Why ``container`` must not be started again, or None when it crashed or is still running."""
    if container.status == "created":
        return "was created and never started"
    if container.status != "exited":
        return None
    state = (container.attrs or {}).get("State") or {}
    code = state.get("ExitCode")
    if not state.get("OOMKilled") and code in DELIBERATE_EXIT_CODES:
        return f"was stopped on purpose (exit code {code})"
    return None


class RestartContainer(Action):
    """Restart (or start) every container of the target's compose service: infrastructure faults."""

    name = "restart_container"
    targets = None  # any compose service of this project (or an allowlisted container name)
    verifications = OBSERVED | {"health"}
    params_help = {"grace_s": "seconds the container gets to stop before it is killed (default 3)"}

    def execute(self, ctx: ActionContext) -> ActionResult:
        settings = ctx.settings
        client = ctx.docker()
        containers = find_containers(client, settings.compose_project, ctx.step.target, settings.allowed_containers)
        if not containers:
            raise TargetMissing(
                f"no container of compose project {settings.compose_project!r} runs service {ctx.step.target!r}"
            )
        grace = int(float(self.step_params(ctx).get("grace_s", "3")))
        detail: dict[str, str] = {}
        left_alone = {c.name: why for c in containers if (why := stopped_on_purpose(c))}
        if len(left_alone) == len(containers):
            raise TargetMissing("not started: " + "; ".join(f"{name} {why}" for name, why in left_alone.items()))
        for i, container in enumerate(c for c in containers if c.name not in left_alone):
            before = container.status
            ctx.safety.mark_restarting(container.name, ttl_s=grace + 30)
            if before in ("running", "paused", "restarting"):
                container.restart(timeout=grace)
            else:
                container.start()
            detail[f"container_{i}"] = f"{container.name} ({container.short_id}) was {before}"
        for name, why in left_alone.items():
            detail[f"left_alone_{name}"] = why
        return ActionResult(True, detail)

"""Do nothing, and let the verification watch the problem end by itself.

For a fault outside the guard's reach (a dependency it may not restart, say): the episode stays
open, the verification waits for the reports to stop, and the next rung acts if they do not.
"""

from __future__ import annotations

from services.healer.actions.base import ActionContext, ActionResult


class Wait:
    name = "wait"

    def execute(self, ctx: ActionContext) -> ActionResult:
        return ActionResult(True, {"note": f"waiting for {ctx.step.target} to recover by itself"})

"""Do nothing, and let the verification watch the problem end by itself.

For a fault outside the guard's reach (a dependency it may not restart, say): the episode stays
open, the verification waits for the reports to stop, and the next rung acts if they do not.
"""

from __future__ import annotations

from services.healer.actions.base import OBSERVED, Action, ActionContext, ActionResult


class Wait(Action):
    """Wait for a problem the healer may not fix: only the problem ending can prove it."""

    name = "wait"
    targets = None  # the service waited for
    verifications = OBSERVED
    params_help = {"quiet_s": "seconds without a report of the problem that mean it ended (verify: recovered)"}

    def execute(self, ctx: ActionContext) -> ActionResult:
        return ActionResult(True, {"note": f"waiting for {ctx.step.target} to recover by itself"})

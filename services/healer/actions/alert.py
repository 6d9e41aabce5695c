"""Hand the incident to a human: the English explanation to every configured channel."""

from __future__ import annotations

from services.healer.actions.base import Action, ActionContext, ActionResult
from services.healer.alerts import incident_alert


class Alert(Action):
    """Escalate to a human: the end of every ladder, so nothing is left without an owner."""

    name = "alert"
    targets = None  # the incident's service, named in the alert; a human receives it
    verifications = frozenset({"none"})  # delivering the alert is the whole action
    params_help = {"note": "why a human is called (the escalation adds it)"}

    def execute(self, ctx: ActionContext) -> ActionResult:
        note = self.step_params(ctx).get("note", "")
        subject, text = incident_alert(ctx.incident, "escalated to a human", note)
        delivered = ctx.alerter.send(subject, text)
        ok = not delivered or any(v == "sent" for v in delivered.values())
        return ActionResult(ok, {f"channel_{k}": v for k, v in delivered.items()} or {"channel_log": "sent"})

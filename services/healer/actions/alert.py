"""Hand the incident to a human: the English explanation to every configured channel."""

from __future__ import annotations

from services.healer.actions.base import ActionContext, ActionResult
from services.healer.alerts import incident_alert


class Alert:
    name = "alert"

    def execute(self, ctx: ActionContext) -> ActionResult:
        subject, text = incident_alert(ctx.incident, "escalated to a human", ctx.step.params.get("note", ""))
        delivered = ctx.alerter.send(subject, text)
        ok = not delivered or any(v == "sent" for v in delivered.values())
        return ActionResult(ok, {f"channel_{k}": v for k, v in delivered.items()} or {"channel_log": "sent"})

"""Ask the trainer for a gated retrain: the candidate goes live only if it beats the live model."""

from services.healer.actions.base import ActionContext, ActionResult, CommandAction, command_record, command_sent


class Retrain(CommandAction):
    name = "retrain"
    command = "retrain"
    extra = {"gated": "true"}

    def execute(self, ctx: ActionContext) -> ActionResult:
        """With ``fresh_data: true`` on the rung, the trainer learns only from rows after the change was seen:
        right after a concept drift the usual window still holds mostly the old concept, and the gate
        would (rightly) reject a model trained on it."""
        extra = dict(self.extra)
        if str(ctx.step.params.get("fresh_data", "")).lower() == "true":
            extra["since_ms"] = str(ctx.incident.first_seen)
        record = command_record(ctx, self.command, extra)
        record["params"].pop("fresh_data", None)
        ctx.publish_command(record)
        return command_sent(record, self.command)

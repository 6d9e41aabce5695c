"""Ask the trainer for a gated retrain: the candidate goes live only if it beats the live model."""

from services.healer.actions.base import ActionContext, ActionResult, CommandAction, command_record, command_sent


class Retrain(CommandAction):
    """Learn the changed world: the trainer's answer (a live version, or the gate's rejection) proves it."""

    name = "retrain"
    command = "retrain"
    targets = frozenset({"trainer"})
    verifications = CommandAction.verifications | {"model_live"}
    extra = {"gated": "true"}
    params_help = {
        "gated": "the candidate must beat the live model (the command always asks for it: never an ungated model)",
        "fresh_data": "true: learn only from rows after the change was seen",
        "window_hours": "hours of labelled rows to learn from (the trainer's default otherwise)",
        "max_rows": "at most this many rows (the trainer's default otherwise)",
    }

    def execute(self, ctx: ActionContext) -> ActionResult:
        """With ``fresh_data: true`` on the rung, the trainer learns only from rows after the change was seen:
        right after a concept drift the usual window still holds mostly the old concept, and the gate
        would (rightly) reject a model trained on it."""
        params = self.step_params(ctx)
        extra = dict(self.extra)
        if str(params.get("fresh_data", "")).lower() == "true":
            extra["since_ms"] = str(ctx.incident.first_seen)
        record = command_record(ctx, self.command, params, extra)
        record["params"].pop("fresh_data", None)
        ctx.publish_command(record)
        return command_sent(record, self.command)

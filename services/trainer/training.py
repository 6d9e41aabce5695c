"""The trainer's work: train, gate and register a candidate; roll back; train the first model.

Each entry point returns the ModelPublished records to send; the registry change they describe is
already committed. Commands are idempotent by event id: a replayed command returns the records it
produced the first time instead of acting twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from services.common.commands import authenticate_command
from services.common.model import artifacts, registry
from services.common.model.bundle import LabelledRow, ModelBundle, fit_spec
from services.common.model.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from services.trainer import handlers, store
from services.trainer import metrics as trainer_metrics
from services.trainer.fitting import DEFAULT_PARAMS, build_profile, evaluate, train
from services.trainer.handlers import TrainerCommand
from services.trainer.settings import TrainerSettings

log = logging.getLogger(__name__)

Connect = Callable[[], psycopg.Connection]


class NotEnoughData(RuntimeError):
    """Too few labelled rows (or a single class) to train and validate a model."""


@dataclass(frozen=True)
class Candidate:
    """A model fitted on the training rows and measured on the held-out ones, with what the registry keeps."""

    bundle: ModelBundle
    metrics: dict[str, float]  # on the held-out rows
    holdout: Sequence[LabelledRow]
    y_hold: list[bool]
    train_rows: int
    params: dict[str, Any]  # everything the fit used, num_boost_round included
    window: dict[str, Any]
    profile: list[dict[str, Any]]


@dataclass(frozen=True)
class Verdict:
    """What the gate makes of a candidate, against the live model it would replace."""

    live: registry.ModelVersion | None
    status: handlers.ModelStatus
    why: str
    metrics: dict[str, float]  # the candidate's, and the live model's on the same held-out rows


def data_window(
    rows: Sequence[LabelledRow], train_rows: Sequence[LabelledRow], holdout: Sequence[LabelledRow]
) -> dict[str, Any]:
    """The rows a version was trained and validated on, as the registry records them."""
    return {
        "start": rows[0].ts.isoformat(),
        "end": rows[-1].ts.isoformat(),
        "rows": len(rows),
        "train_rows": len(train_rows),
        "holdout_rows": len(holdout),
        "holdout_start": holdout[0].ts.isoformat(),
    }


class Trainer:
    """Trains, gates, registers and rolls back one model; safe to call from several threads."""

    def __init__(self, settings: TrainerSettings, connect: Connect) -> None:
        self.settings = settings
        self.connect = connect
        self._lock = threading.Lock()
        self._bootstrap_attempted_at: int | None = None

    # ---------------------------------------------------------------- commands
    def handle_command(self, value: dict[str, Any]) -> list[dict[str, Any]]:
        """Obey a Command event addressed to the trainer (raises CommandError on a bad one).

        Every command gets an answer carrying its id: the version it made live, rejected or rolled
        back, or a refusal saying why nothing changed. Commands are taken one at a time (one
        consumer, one lock), so a retrain that arrives while another runs waits, then trains and
        answers on its own, gated against whatever the first one made live.
        """
        cmd = handlers.parse_command(value, self.settings.service_name)
        if cmd is None:
            return []
        # Forged labels plus an ungated retrain would put a poisoned model live: that one is a person's call.
        authenticate_command(value, self.settings, operator_only="a retrain that skips the gate" if cmd.force else "")
        with self.connect() as conn:
            done = store.command_outputs(conn, cmd.event_id)
        if done is not None:
            log.info("command %s %s already obeyed; re-sending its %d events", cmd.command, cmd.event_id, len(done))
            if not done:  # recorded without an answer by an older trainer: answer now
                return [self._refusal(cmd, f"{cmd.command} was not obeyed when this command first arrived")]
            return handlers.answers_for(cmd.event_id, done)
        if cmd.command == "rollback":
            return self.rollback(cmd)
        try:
            return self.retrain(cmd)
        except NotEnoughData as exc:
            log.warning("retrain command %s not obeyed: %s", cmd.event_id, exc)
            refusal = self._refusal(cmd, f"retrain not obeyed: {exc}")
            trainer_metrics.MODELS.labels("refused").inc()
            with self.connect() as conn:
                store.record_command(conn, cmd.event_id, cmd.command, [refusal])
            return [refusal]

    def _refusal(self, cmd: TrainerCommand, reason: str, conn: psycopg.Connection | None = None) -> dict[str, Any]:
        """The answer to a command that changed nothing, naming the live version it leaves in place."""
        s = self.settings
        if conn is None:
            with self.connect() as own:
                live = registry.live_version(own, s.model_name)
        else:
            live = registry.live_version(conn, s.model_name)
        return handlers.refused_event(
            source=s.service_name,
            model_name=s.model_name,
            command_id=cmd.event_id,
            reason=reason,
            live_version=live.version if live else None,
            artifact_uri=live.artifact_uri if live else "",
        )

    # ---------------------------------------------------------------- training
    def load_rows(self, window_hours: float | None = None, max_rows: int | None = None) -> list[LabelledRow]:
        with self.connect() as conn:
            rows = store.fetch_labelled(conn, max_rows or self.settings.max_rows)
        hours = window_hours or self.settings.window_hours
        return handlers.select_window(rows, timedelta(hours=hours), max_rows or self.settings.max_rows)

    def retrain(self, cmd: TrainerCommand | None = None, reason: str = "") -> list[dict[str, Any]]:
        """Train a candidate on recent rows, gate it against the live model, register and announce it."""
        with self._lock:
            if cmd is not None and cmd.since_ms is not None:
                rows = self._fresh_rows(cmd)
            else:
                rows = self.load_rows(cmd.window_hours if cmd else None, cmd.max_rows if cmd else None)
            return self._train_and_register(rows, cmd, reason or (cmd.reason if cmd else ""))

    def _fresh_rows(self, cmd: TrainerCommand) -> list[LabelledRow]:
        """Rows at or after ``cmd.since_ms``, waiting (bounded) until min_rows of them are labelled."""
        assert cmd.since_ms is not None
        since = datetime.fromtimestamp(cmd.since_ms / 1000, UTC)
        deadline = time.monotonic() + self.settings.fresh_data_wait_s
        while True:
            rows = [r for r in self.load_rows(cmd.window_hours, cmd.max_rows) if r.ts >= since]
            if len(rows) >= self.settings.min_rows or time.monotonic() >= deadline:
                log.info("retraining on %d rows seen since %s", len(rows), since.isoformat())
                return rows
            time.sleep(2.0)

    def _train_and_register(
        self, rows: Sequence[LabelledRow], cmd: TrainerCommand | None, reason: str
    ) -> list[dict[str, Any]]:
        """Train a candidate, gate it against the live model, register it and announce it, in one transaction."""
        s = self.settings
        candidate = self._train_candidate(rows)
        with self.connect() as conn, store.locked(conn, s.model_name):
            verdict = self._gate(conn, candidate, cmd, reason)
            version = self._register(conn, candidate, verdict)
            event = self._announce(conn, version, verdict, cmd)
        log.info(
            "model %s v%d %s: %s",
            s.model_name,
            version.version,
            verdict.status,
            verdict.why,
            extra={"model_version": version.version, "status": verdict.status, "auc": candidate.metrics["auc"]},
        )
        return [event]

    def _train_candidate(self, rows: Sequence[LabelledRow]) -> Candidate:
        """Fit on all but the most recent rows and measure on those; NotEnoughData when they are too few."""
        s = self.settings
        if len(rows) < s.min_rows:
            raise NotEnoughData(f"{len(rows)} labelled rows in the window, {s.min_rows} needed")
        try:
            train_rows, holdout = handlers.split_holdout(rows, s.holdout_fraction, s.min_holdout)
        except ValueError as exc:
            raise NotEnoughData(str(exc)) from exc
        spec = fit_spec(train_rows, list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES), max_vocab=s.max_vocab)
        params = {**DEFAULT_PARAMS, "learning_rate": s.learning_rate, "num_leaves": s.num_leaves}
        with trainer_metrics.TRAINING_SECONDS.time():
            try:
                booster = train(train_rows, spec, params, s.num_boost_round)
            except ValueError as exc:
                raise NotEnoughData(str(exc)) from exc
            bundle = ModelBundle(booster, spec)
            y_hold = [r.label for r in holdout]
            metrics = evaluate(y_hold, bundle.predict_rows(holdout))
        profile = build_profile(train_rows, spec, bins=s.profile_bins)
        return Candidate(
            bundle=bundle,
            metrics=metrics,
            holdout=holdout,
            y_hold=y_hold,
            train_rows=len(train_rows),
            params={**params, "num_boost_round": s.num_boost_round},
            window=data_window(rows, train_rows, holdout),
            profile=profile,
        )

    def _gate(self, conn: psycopg.Connection, candidate: Candidate, cmd: TrainerCommand | None, reason: str) -> Verdict:
        """Compare the candidate with the live model on the same held-out rows; a forcing command overrides a fail."""
        s = self.settings
        live = registry.live_version(conn, s.model_name)
        live_metrics = self._live_metrics(live, candidate.holdout, candidate.y_hold)
        decision = handlers.gate(
            candidate.metrics, live_metrics, s.gate_auc_tolerance, s.gate_logloss_tolerance, s.min_auc
        )
        if cmd is not None and cmd.force and not decision.passed:
            decision = handlers.GateDecision(True, f"forced by command: {decision.reason}", decision.checks)
        metrics = {
            **candidate.metrics,
            "holdout_rows": float(len(candidate.holdout)),
            "train_rows": float(candidate.train_rows),
            **({"live_auc": live_metrics["auc"], "live_logloss": live_metrics["logloss"]} if live_metrics else {}),
        }
        why = f"{reason}: {decision.reason}" if reason else decision.reason
        return Verdict(live, "live" if decision.passed else "rejected", why, metrics)

    def _register(self, conn: psycopg.Connection, candidate: Candidate, verdict: Verdict) -> registry.ModelVersion:
        """Save the candidate's artifact and record it as the next version; live when it passed the gate."""
        s = self.settings
        version = store.next_version(conn, s.model_name)
        trainer_metrics.MODELS.labels(verdict.status).inc()
        uri = artifacts.save_bundle(
            s.artifact_dir,
            s.model_name,
            version,
            candidate.bundle,
            {"metrics": verdict.metrics, "data_window": candidate.window},
        )
        registered = registry.ModelVersion(
            model_name=s.model_name,
            version=version,
            status=verdict.status,
            artifact_uri=uri,
            metrics=verdict.metrics,
            params=candidate.params,
            data_window=candidate.window,
            parent_version=verdict.live.version if verdict.live else None,
            reason=verdict.why,
            profile=candidate.profile,
        )
        store.insert_version(conn, registered)
        if verdict.status == "live":
            store.set_live(conn, s.model_name, version, verdict.why)
        return registered

    def _announce(
        self, conn: psycopg.Connection, version: registry.ModelVersion, verdict: Verdict, cmd: TrainerCommand | None
    ) -> dict[str, Any]:
        """The ModelPublished record of the new version; a command's is kept as its answer, for a replay."""
        event = self._version_event(version, verdict.status, verdict.why, version.parent_version, cmd, verdict.metrics)
        if cmd is not None:
            store.record_command(conn, cmd.event_id, cmd.command, [event])
        return event

    def _version_event(
        self,
        version: registry.ModelVersion,
        status: handlers.ModelStatus,
        reason: str,
        previous_version: int | None,
        cmd: TrainerCommand | None,
        metrics: Mapping[str, float] | None = None,
    ) -> dict[str, Any]:
        """The ModelPublished record of a registered version, with its metrics as the registry holds them
        unless the caller has them at hand; a command's answer carries the command's id."""
        s = self.settings
        return handlers.model_event(
            source=s.service_name,
            model_name=s.model_name,
            version=version.version,
            status=status,
            artifact_uri=version.artifact_uri,
            metrics=version.float_metrics() if metrics is None else metrics,
            params=version.params,
            reason=reason,
            previous_version=previous_version,
            profile=version.profile,
            command_id=cmd.event_id if cmd else None,
        )

    def _live_metrics(
        self, live: registry.ModelVersion | None, holdout: Sequence[LabelledRow], y_hold: list[bool]
    ) -> dict[str, float] | None:
        if live is None:
            return None
        try:
            bundle = artifacts.load_bundle(live.artifact_uri)
        except artifacts.ArtifactError as exc:
            # A live model that cannot be read cannot serve either: the candidate replaces it.
            log.error("live model v%d unreadable, gating against nothing: %s", live.version, exc)
            return None
        return evaluate(y_hold, bundle.predict_rows(holdout))

    # ---------------------------------------------------------------- rollback
    def rollback(self, cmd: TrainerCommand) -> list[dict[str, Any]]:
        """Make the previous live version live again and mark the current one rolled back."""
        s = self.settings
        with self._lock, self.connect() as conn, store.locked(conn, s.model_name):
            live = registry.live_version(conn, s.model_name)
            target = handlers.rollback_target(registry.live_history(conn, s.model_name), live.version) if live else None
            restored = registry.get_version(conn, s.model_name, target) if target is not None else None
            if live is None or restored is None:
                why = "no live model" if live is None else f"no earlier live version than v{live.version}"
                log.warning("rollback command %s not obeyed: %s", cmd.event_id, why)
                refusal = self._refusal(cmd, f"rollback not obeyed: {why}", conn)
                trainer_metrics.MODELS.labels("refused").inc()
                store.record_command(conn, cmd.event_id, cmd.command, [refusal])
                return [refusal]
            reason = f"rollback: {cmd.reason}" if cmd.reason else "rollback"
            store.set_status(conn, s.model_name, live.version, "rolled_back")
            trainer_metrics.MODELS.labels("rolled_back").inc()
            store.set_live(conn, s.model_name, restored.version, reason)
            rolled_back_reason = f"{reason}; v{restored.version} restored"
            events = [
                self._version_event(live, "rolled_back", rolled_back_reason, live.parent_version, cmd),
                self._version_event(restored, "live", reason, live.version, cmd),
            ]
            store.record_command(conn, cmd.event_id, cmd.command, events)
        # INFO, not WARNING: a rollback is a remedy, and WARN+ records feed the log-classifier's incidents.
        log.info("model %s rolled back from v%d to v%d: %s", s.model_name, live.version, restored.version, reason)
        return events

    # ---------------------------------------------------------------- first model
    def bootstrap_if_needed(self) -> list[dict[str, Any]]:
        """Train the first model once enough labelled rows exist and no version is live.

        After a failed or rejected attempt it waits until ``min_rows`` more rows arrived, so an
        empty or unlearnable stream does not retrain on every check.
        """
        s = self.settings
        with self.connect() as conn:
            if registry.live_version(conn, s.model_name) is not None:
                return []
            needed = s.min_rows + (self._bootstrap_attempted_at or 0)
            available = store.count_labelled(conn, needed)
        if available < needed:
            return []
        self._bootstrap_attempted_at = available
        log.info("no live model and at least %d labelled rows: training the first model", available)
        try:
            return self.retrain(reason="first model")
        except NotEnoughData as exc:
            log.warning("first model not trained yet: %s", exc)
            return []

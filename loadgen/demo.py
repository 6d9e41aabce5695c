"""The closed-loop demo: the whole system on real infrastructure and seasonal traffic, every fault class
it claims to handle played one after another, each one scored.

    python -m loadgen demo [--rate 150] [--time-scale 720]

Phases: start every service (inference in a real container, Redis a server of the run's own),
send seasonal traffic (``--time-scale`` 720: one simulated day in two minutes) until the trainer
has learnt a first model from more than a simulated day of rows, let the detectors learn a day,
then a calm phase of two simulated days (any incident in it is false), then the faults:

crash (SIGKILL to inference), hang (SIGSTOP), dependency outage (Redis stopped 30 s), contract
break, null burst, unit change, concept drift, feature drift.

Bad input comes before drift, and the two persistent changes come last, so no change outlives its
scenario into the next. Between faults the demo reverts what it broke and, as an operator would,
resumes ingest the healer quarantined and closes what it escalated to a human; then it waits
(bounded) for calm and for the drift detector to read live data again. What
each fault must raise and which answers are wrong is the table in :mod:`loadgen.scoring`; the
scorecard follows, and the exit code is 0 only when it passes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from loadgen.feed import Feed
from loadgen.redis_server import RedisServer, RedisServerError
from loadgen.scoring import (
    DRIFT,
    EXPECTED,
    Record,
    Window,
    acted,
    final_word,
    label,
    render,
    score_fault,
    scorecard,
    skipped,
)
from loadgen.stack import SERVICES, Stack, StackError
from loadgen.traffic_process import FaultSpec, Traffic
from services.common.bus import EventProducer
from services.common.commands import sign_command
from services.common.events import header
from services.common.incidents import is_bad_input

DAY_S = 86_400.0
ACT_S = 45.0  # the healer answers an incident within seconds; none after this long means it will not
REPORT_AGAIN_S = 35.0  # the drift detector re-sends a persisting incident every 30 s
# The healer takes a drift within this long of the last report of bad input as its echo (root cause
# upstream_data, to a human). A drift scenario starts after it, or its change would be blamed on the
# previous scenario's bad data.
UPSTREAM_SETTLE_S = 120.0


@dataclass(frozen=True)
class Step:
    """How the demo plays one fault class (what it must raise is in ``scoring.EXPECTED``)."""

    fault: str
    title: str
    duration_s: float | None  # the fault is reverted (or ends by itself) after this long; None: no end
    detect_s: float  # longest wait for the expected incident after the injection
    heal_s: float  # longest wait for the healer's final word after that incident
    docker: bool = False  # needs inference in a container


STEPS: tuple[Step, ...] = (
    Step("crash", "crash: SIGKILL to the inference container", None, 45, 60, docker=True),
    Step("hang", "hang: SIGSTOP to the inference container's process", None, 60, 90, docker=True),
    Step("dependency", "dependency outage: Redis stopped for 30 s", 30, 90, 120),
    Step("contract_break", "contract break: 30% of events as JSON or with out-of-contract values", 15, 60, 60),
    Step("null_burst", f"null burst: {EXPECTED['null_burst'].on} missing for 15 s", 15, 60, 60),
    Step("unit_change", f"unit change: {EXPECTED['unit_change'].on} reported x1000 for 20 s", 20, 60, 60),
    Step("concept_drift", "concept drift: the hidden apply function flips", None, 150, 330),
    Step("feature_drift", f"feature drift: {EXPECTED['feature_drift'].on} +2 std", None, 150, 330),
)

# The loadgen faults of the data scenarios (the features come from the expectations table).
DATA_FAULTS: dict[str, FaultSpec] = {
    "contract_break": ("schema_break", None, {"rate": "0.3", "mode": "mixed"}),
    "null_burst": ("null_burst", None, {"feature": str(EXPECTED["null_burst"].on)}),
    "unit_change": ("unit_change", None, {"feature": str(EXPECTED["unit_change"].on), "factor": "1000"}),
    "concept_drift": ("concept_drift", None, {}),
    "feature_drift": ("covariate_shift", None, {"feature": str(EXPECTED["feature_drift"].on), "std": "2"}),
}


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.docker = _docker_available()
        self.day_s = DAY_S / args.time_scale
        self.redis = RedisServer()
        train_s = args.train_days * self.day_s
        self.stack = Stack(
            name="demo",
            services=[s for s in SERVICES if s != "trainer"],
            in_docker=["inference"] if self.docker else [],
            redis_server=self.redis.url,
            port_offset=args.port_offset,
            service_envs={
                # Short windows fill within seconds: the first model and the baselines see steady traffic.
                "feature": {
                    "AIG_MEMBER_WINDOW_S": str(args.feature_window_s),
                    "AIG_JOB_WINDOW_S": str(args.feature_window_s),
                },
                # The first model learns from the newest train_days of rows; a retrain on fresh data
                # waits for retrain_days of them.
                "trainer": {
                    "AIG_WINDOW_HOURS": f"{train_s / 3600:.6f}",
                    "AIG_MIN_ROWS": str(max(100, int(args.rate * args.retrain_days * self.day_s))),
                    "AIG_CHECK_INTERVAL_S": "3",
                },
                "drift": {"AIG_SEASON_PERIOD_S": f"{self.day_s:g}"},
                # Scenarios follow each other within a minute: a restart must not be refused as too soon.
                "healer": {"AIG_COOLDOWN_S": "20", "AIG_UPSTREAM_SETTLE_S": f"{UPSTREAM_SETTLE_S:g}"},
            },
        )
        self.redis.data_dir = self.stack.dir / "redis"
        self.redis.log_path = self.stack.dir / "redis.log"
        self.feed = Feed(self.stack)
        self.traffic = Traffic(self.stack, args.rate, args.time_scale)
        self.learnt_at = 0.0
        self.resumed_at = 0.0
        self.closed: set[str] = set()  # escalated incidents the operator closed (or found closed)
        self.can_close = True

    # -- phases --------------------------------------------------------------------------------
    def run(self) -> int:
        run_started = time.monotonic()
        say = self.feed.say
        say(
            f"starting the stack (run {self.stack.run_id}, logs in {self.stack.dir}); simulated day = "
            f"{self.day_s:g} s (time scale {self.args.time_scale:g})"
        )
        if not self.docker:
            say("no Docker engine answers: inference runs as a process, crash and hang cannot be played")
        self.redis.start()
        self.stack.start()
        threading.Thread(target=self.feed.run, name="feed", daemon=True).start()
        self.traffic.restart()
        wait_s = self.args.feature_window_s + self.args.train_days * self.day_s + 8
        say(
            f"all services healthy; seasonal traffic at {self.args.rate:g}/s for {wait_s:.0f} s "
            f"({self.args.train_days:g} simulated days of rows) before the trainer starts"
        )
        self._sleep(wait_s)
        self.stack.start_service("trainer")
        self.stack.wait_healthy(["trainer"])
        if self._wait("the first model", lambda: model_version(self.stack), 240, "trainer.log") is None:
            return 1
        say(f"first model live: {self._model_summary()}")
        self._learn("the detectors learn normal seasonal traffic")
        self._close_escalations()
        self._caught_up()
        calm_start = time.monotonic()
        say(f"=== calm: {self.args.calm_days:g} simulated days of normal traffic; every incident now is false ===")
        self._sleep(self.args.calm_days * self.day_s)
        self._caught_up()  # what the detectors say about the calm traffic belongs to the calm phase
        calm = Window("calm", calm_start, time.monotonic())
        say(f"calm over: {len(self.feed.new_incidents(calm_start))} incident(s) in it")
        self._close_escalations()
        starts: list[tuple[Step, float]] = []
        skips = []
        for step in STEPS:
            if step.docker and not self.docker:
                skips.append(skipped(step.title, step.fault, "no Docker engine: inference is not a container"))
                continue
            if self.feed.live_models(since=self.learnt_at):
                self._learn("a new model went live: its detectors learn a day again")
            starts.append((step, self.play(step)))
        end = time.monotonic()
        windows = [
            Window(step.title, start, starts[i + 1][1] if i + 1 < len(starts) else end, step.fault)
            for i, (step, start) in enumerate(starts)
        ]
        incidents, actions = self.feed.snapshot()
        card = scorecard(calm, windows, incidents, actions, skips)
        print("\n=== scorecard ===")
        for line in render(card):
            print(line)
        lag = drift_lag(self.stack)
        if lag is not None and lag > self.args.rate * 15:
            print(f"\nthe drift detector ended {lag} events behind its inputs: its detections above came late")
        early = [i for i in self.feed.new_incidents(0.0) if i["_seen"] < calm_start]
        print(f"\n{len(early)} incident(s) before the calm phase (start-up and learning, not scored)")
        print(
            f"demo took {(end - run_started) / 60:.1f} min; incidents {len(self.feed.new_incidents(0.0))}, "
            f"healer action records {len(actions)}; logs in {self.stack.dir}",
            flush=True,
        )
        return 0 if card.ok else 1

    def _sleep(self, seconds: float) -> None:
        """Sleep, keeping the traffic going: a loadgen that died is replaced at once."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            note = self.traffic.ensure_running()
            if note:
                self.feed.say(note)

    def _learn(self, why: str) -> None:
        """Wait ``learn_days`` after the newest live model: its detectors reset and learn from it."""
        learn_s = self.args.learn_days * self.day_s
        self.feed.say(f"{why} ({learn_s:.0f} s, {self.args.learn_days:g} simulated day(s))")
        start = time.monotonic()
        announced = start + 5.0  # the event of the model just announced may arrive a moment later
        while True:
            newest = max((m["_seen"] for m in self.feed.live_models()), default=0.0)
            now = time.monotonic()
            if newest > announced:
                self.feed.say("a new model went live while the detectors learnt: they start over from it")
                announced = newest
            if now >= max(start, newest) + learn_s:
                break
            if now >= start + 3 * learn_s:
                self.feed.say(
                    f"new models kept going live for {3 * learn_s:.0f} s, going on; read "
                    f"{self.stack.dir / 'trainer.log'} and {self.stack.dir / 'drift.log'}"
                )
                break
            self._sleep(1.0)
        self.learnt_at = time.monotonic()

    def play(self, step: Step) -> float:
        """Inject one fault, wait (bounded) for its incident and the healer's answer, revert, settle."""
        say = self.feed.say
        say(f"=== {step.title} ===")
        expected = EXPECTED[step.fault]
        self._resume_if_paused(0.0)  # a late quarantine of an earlier fault must not swallow this one
        if expected.family == DRIFT:
            self._after_bad_input()
        self.inject(step)
        start = time.monotonic()  # a new loadgen takes over only now: its fault starts here
        reverted = step.duration_s is None
        found: dict[str, Any] | None = None
        outcome: Record | None = None
        while True:
            now = time.monotonic()
            if not reverted and step.duration_s is not None and now >= start + step.duration_s:
                self.revert(step)
                reverted = True
            if found is None:
                found = next((i for i in self.feed.new_incidents(start) if expected.kind_matches(i)), None)
            if found is not None and outcome is None:
                outcome = final_word(found, self.feed.actions_since(start), now)
            if reverted and found is not None and outcome is not None:
                break
            if reverted and found is None and now >= start + step.detect_s:
                say(f"no {expected.describe()} incident within {step.detect_s:.0f} s; read {self._logs_for(step)}")
                break
            if reverted and found is not None and outcome is None and now >= found["_seen"] + step.heal_s:
                say(
                    f"no final word from the healer within {step.heal_s:.0f} s of the incident; read "
                    f"{self.stack.dir / 'healer.log'}"
                )
                break
            acting_from = max(found["_seen"], start + (step.duration_s or 0.0)) if found is not None else now
            if (
                found is not None
                and outcome is None
                and now >= acting_from + ACT_S
                and not acted(found, self.feed.actions_since(start))
            ):
                say(
                    f"the healer took no action on the incident within {ACT_S:.0f} s; read "
                    f"{self.stack.dir / 'healer.log'}"
                )
                break
            self._sleep(0.5)
        self.cleanup(step)
        self.settle(start)
        incidents, actions = self.feed.snapshot()
        now = time.monotonic()
        score = score_fault(Window(step.title, start, now, step.fault), incidents, actions)
        got = f"{label(score.incident or score.first)} after {score.detected_s:.1f} s" if score.first else "nothing"
        wrong = f"; WRONG {', '.join(score.wrong)}" if score.wrong else ""
        say(f"--- {step.fault}: {'PASS' if score.ok else 'FAIL'}: {got}; {score.outcome}{wrong} ({now - start:.0f} s)")
        return start

    # -- faults --------------------------------------------------------------------------------
    def inject(self, step: Step) -> None:
        if step.fault == "crash":
            self.stack.containers["inference"].kill(signal="SIGKILL")
        elif step.fault == "hang":
            self.stack.containers["inference"].kill(signal="SIGSTOP")
        elif step.fault == "dependency":
            self.redis.stop()
        elif step.duration_s is None:  # a lasting change of the world: it stays for the rest of the run
            self.traffic.persistent.append(DATA_FAULTS[step.fault])
            self.traffic.restart()
        else:
            name, _, params = DATA_FAULTS[step.fault]
            self.traffic.restart(((name, step.duration_s, params),))

    def revert(self, step: Step) -> None:
        """End a fault with a duration (data faults end by themselves in loadgen)."""
        if step.fault == "dependency":
            self.redis.start()
            self.feed.say("Redis is back")

    def cleanup(self, step: Step) -> None:
        """Leave the system as an operator would before the next fault: nothing stopped, nothing frozen."""
        if step.fault == "dependency" and not self.redis.running:
            self.redis.start()
        if step.fault in ("crash", "hang") and self.docker:
            container = self.stack.containers["inference"]
            with contextlib.suppress(Exception):  # a restarted process is not stopped: SIGCONT is harmless
                container.kill(signal="SIGCONT")
            container.reload()
            if container.status != "running":
                self.feed.say(f"inference container is {container.status}: starting it again")
                container.start()
            self.stack.wait_healthy(["inference"], timeout_s=90)

    def settle(self, since: float, rounds: int = 3) -> None:
        """Resume a quarantined ingest and wait for calm; a pause during the wait is lifted again.

        Then, as the operator, close what the healer escalated: an escalated incident is held by a
        human, and while it is open every new report of its problem only updates it.
        """
        for _ in range(rounds):
            resumed = self._resume_if_paused(since)
            self._calm()
            # A problem that persists is reported again after its escalation is closed: give the healer
            # its new episode here rather than in the next scenario's window.
            closed = self._close_escalations()
            if closed:
                self._calm(quiet_s=REPORT_AGAIN_S)
            if not resumed and not closed and not self._paused_after(max(since, self.resumed_at)):
                break
        self._caught_up()

    def _caught_up(self, timeout_s: float = 150.0, trend_s: float = 30.0) -> None:
        """Wait (bounded) until the drift detector reads live data: a fault injected while it is minutes
        behind would be detected minutes late, in another scenario's window. A lag that does not
        shrink within ``trend_s`` will not be made up by waiting: the demo goes on and says so."""
        limit = self.args.rate * 3 * 5  # five seconds of features, predictions and labels
        lag = drift_lag(self.stack)
        if lag is None or lag <= limit:
            return
        first, started = lag, time.monotonic()
        self.feed.say(f"the drift detector is {lag} events behind; waiting for it to catch up")
        while time.monotonic() < started + timeout_s:
            self._sleep(5.0)
            lag = drift_lag(self.stack)
            if lag is None or lag <= limit:
                self.feed.say("the drift detector has caught up")
                return
            if time.monotonic() >= started + trend_s and lag > 0.9 * first:
                break
        self.feed.say(
            f"the drift detector is not catching up ({first} -> {lag} events behind in "
            f"{time.monotonic() - started:.0f} s), going on: its incidents will come late; read "
            f"{self.stack.dir / 'drift.log'} (and check what else loads the machine)"
        )

    def _close_escalations(self) -> int:
        """POST /incidents/{id}/resolve for every escalation not closed yet (the healer's human hand-off)."""
        closed = 0
        for act in self.feed.actions_since(0.0):
            iid = act["incident_id"]
            if act["status"] != "escalated" or iid in self.closed or not self.can_close:
                continue
            try:
                reply = httpx.post(
                    f"{self.stack.url('healer')}/incidents/{iid}/resolve",
                    json={"note": "demo operator: looked at it, the run goes on"},
                    timeout=5.0,
                )
            except httpx.HTTPError as exc:
                self.feed.say(f"operator: could not close escalated incident {iid}: {exc}")
                continue
            if reply.status_code == 405 or (reply.status_code == 404 and "Not Found" in reply.text):
                self.can_close = False
                self.feed.say(
                    f"operator: the healer has no API to close an incident ({reply.status_code}); an "
                    "escalated fingerprint stays with a human for the rest of the run"
                )
            elif reply.status_code != 409 or "being decided" not in reply.text:  # busy: try again next time
                self.closed.add(iid)
                closed += reply.status_code == 200
        if closed:
            self.feed.say(f"operator: closed {closed} escalated incident(s); a new report of them is healed afresh")
        return closed

    def _after_bad_input(self) -> None:
        """Wait until the last report of bad input is older than the healer's upstream settle time."""
        last = max(
            (i["_seen"] for i in self.feed.incidents if is_bad_input(i["type"], i.get("root_cause"))), default=None
        )
        left = (last + UPSTREAM_SETTLE_S + 5.0 - time.monotonic()) if last is not None else 0.0
        if left > 0:
            self.feed.say(f"waiting {left:.0f} s: a change right after bad input would be taken as its echo")
            self._sleep(left)

    def _paused_after(self, t: float) -> bool:
        return any(
            a["action"] == "pause_ingest" and a["status"] == "executed" and a["_seen"] > t
            for a in self.feed.actions_since(t)
        )

    def _resume_if_paused(self, since: float) -> bool:
        if not self._paused_after(max(since, self.resumed_at)):
            return False
        producer = EventProducer(self.stack.settings)
        producer.produce(
            "commands",
            sign_command(
                {
                    **header("operator"),
                    "command": "resume_ingest",
                    "target": "ingest",
                    "reason": "demo operator: the upstream source is fixed",
                    "incident_id": None,
                    "params": {},
                },
                self.stack.settings,
                "operator",
            ),
            key="ingest",
        )
        producer.flush(10.0)
        self.resumed_at = time.monotonic()
        self.feed.say("operator: resume_ingest sent (the fault is over)")
        return True

    def _calm(self, quiet_s: float = 15.0, timeout_s: float = 180.0) -> None:
        """Wait until no new incident or action has arrived for ``quiet_s`` and no action awaits its
        verification (bounded)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            # A resumed ingest replays what it held back: quiet counts from the resume too.
            quiet = time.monotonic() - max(self.feed.last_activity(), self.resumed_at) >= quiet_s
            if quiet and not self.feed.in_progress():
                return
            self._sleep(1.0)
        busy = ", ".join(f"{a['action']}->{a['target']}" for a in self.feed.in_progress()) or "none"
        self.feed.say(
            f"still not calm after {timeout_s:.0f} s (actions in progress: {busy}), going on; read "
            f"{self.stack.dir / 'healer.log'}"
        )

    # -- helpers -------------------------------------------------------------------------------
    def _wait(self, what: str, predicate: Callable[[], Any], timeout_s: float, log: str) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            self._sleep(0.5)
        self.feed.say(f"gave up waiting for {what} after {timeout_s:.0f} s; read {self.stack.dir / log}")
        return None

    def _logs_for(self, step: Step) -> str:
        by_family = {
            "crash": "healer.log",
            "hang": "healer.log",
            "dependency": "logclassifier.log",
            "contract_break": "logclassifier.log",
        }
        return str(self.stack.dir / by_family.get(step.fault, "drift.log"))

    def _model_summary(self) -> str:
        """Version, rows and the simulated span of the data it learnt from (read from its artifact)."""
        version = model_version(self.stack)
        live = self.feed.live_models()
        name = live[-1]["model_name"] if live else "job_apply"
        try:
            meta = json.loads((self.stack.dir / "models" / name / f"v{version}" / "model.json").read_text())
            window = meta["meta"]["data_window"]
            span_s = (datetime.fromisoformat(window["end"]) - datetime.fromisoformat(window["start"])).total_seconds()
            return (
                f"v{version} trained on {window['rows']} rows spanning {span_s:.0f} s = "
                f"{span_s * self.args.time_scale / 3600:.1f} simulated hours"
            )
        except (OSError, KeyError, ValueError) as exc:
            return f"v{version} (training window unknown: {exc})"

    def close(self) -> None:
        self.feed.stop.set()
        self.traffic.stop()
        self.stack.stop()
        self.redis.stop()


def consumer_lag(metrics_text: str, service: str) -> int:
    """Messages a service is behind on all its input partitions, from its Prometheus exposition."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("aig_consumer_lag{") and f'service="{service}"' in line:
            total += max(0.0, float(line.rsplit(" ", 1)[1]))
    return int(total)


def drift_lag(stack: Stack) -> int | None:
    """Messages the drift service is behind on its inputs (None: its /metrics does not answer)."""
    try:
        return consumer_lag(httpx.get(f"{stack.url('drift')}/metrics", timeout=2.0).text, "drift")
    except httpx.HTTPError:
        return None


def model_version(stack: Stack) -> int | None:
    try:
        reply = httpx.get(f"{stack.url('inference')}/model", timeout=2.0)
        return reply.json().get("version") if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


# (flag, type, default, what it sets): every option of the demo, its default stated in its help.
OPTIONS: tuple[tuple[str, type, float, str], ...] = (
    ("--rate", float, 150.0, "interactions per second"),
    ("--time-scale", float, 720.0, "simulated seconds per second: 720 plays a day in two minutes"),
    ("--train-days", float, 1.1, "simulated days of rows the first model learns from"),
    ("--retrain-days", float, 0.3, "simulated days of rows a retrain on fresh data waits for"),
    ("--learn-days", float, 1.0, "simulated days the detectors learn after a new model"),
    ("--calm-days", float, 2.0, "simulated days of the calm phase, where every incident is false"),
    ("--port-offset", int, 0, "added to every service port (0: ingest 8001 ... healer 8007)"),
    ("--feature-window-s", int, 20, "window of the member_views and job_views features"),
)


def add_parser(sub: Any) -> None:
    demo = sub.add_parser("demo", help="the closed-loop demo on the local infrastructure, every fault scored")
    for flag, kind, default, what in OPTIONS:
        demo.add_argument(flag, type=kind, default=kind(default), help=f"{what} (default {default:g})")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    for flag, _, _, _ in OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value < 0 or (value == 0 and flag != "--port-offset"):
            print(
                f"demo: {flag} must be {'>= 0' if flag == '--port-offset' else '> 0'}, got {value:g}", file=sys.stderr
            )
            return 2

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)  # stop the stack on SIGTERM too, not only on Ctrl-C
    demo = Demo(args)
    try:
        return demo.run()
    except KeyboardInterrupt as exc:
        print(f"demo: interrupted ({exc or 'SIGINT'}), stopping the stack", file=sys.stderr)
        return 130
    except (StackError, RedisServerError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave services behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.close()

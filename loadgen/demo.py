"""The closed-loop demo: the whole system on real infrastructure, faults injected one after another,
each detected, explained in plain English and healed, with the time it took.

    python -m loadgen demo [--rate 150] [--quick]

Steps: start every service (inference in a real container when a Docker engine answers), send
traffic until the first model is trained by itself, then a crashed inference container (SIGKILL),
a concept drift (the apply function changes) and a feature drift (salary +2 std). Incidents and the
healer's actions are printed live from Kafka; a summary table follows. Exit code 0 when every
scenario was detected and answered: healed, or handed to a human with the reason (say, the
validation gate rejected the retrained model).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer

from loadgen.stack import SERVICES, Stack, StackError
from services.common.codec import codec_for


@dataclass
class Feed:
    """Incidents and healer actions of one run, read live from Kafka."""

    stack: Stack
    started: float = field(default_factory=time.monotonic)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        codec = codec_for(Path(self.stack.settings.schemas_dir))
        consumer = Consumer({
            "bootstrap.servers": self.stack.kafka_bootstrap, "group.id": f"demo-feed-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
        })
        consumer.subscribe([self.stack.settings.topic("incidents"), self.stack.settings.topic("actions")])
        try:
            while not self.stop.is_set():
                for msg in consumer.consume(100, 0.5):
                    if msg.error() is not None:
                        continue
                    record = codec.decode(msg.value() or b"")
                    record["_seen"] = time.monotonic()
                    if "incident_id" in record and "action" in record:
                        self.actions.append(record)
                        self._print_action(record)
                    else:
                        self.incidents.append(record)
                        self._print_incident(record)
        finally:
            consumer.close()

    def clock(self) -> str:
        return f"[{time.monotonic() - self.started:6.1f}s]"

    def say(self, text: str) -> None:
        print(f"{self.clock()} {text}", flush=True)

    def _print_incident(self, inc: dict[str, Any]) -> None:
        target = f" ({inc['target']})" if inc.get("target") else ""
        cause = f" root cause {inc['root_cause']}," if inc.get("root_cause") else ""
        self.say(f"INCIDENT {inc['type']} in {inc['service']}{target},{cause} x{inc['count']}: {inc['summary']}")
        if inc.get("explanation"):
            print(f"{'':10} {inc['explanation']}", flush=True)

    def _print_action(self, act: dict[str, Any]) -> None:
        times = ""
        if act.get("time_to_recover_ms") is not None:
            ttd = (act.get("time_to_detect_ms") or 0) / 1000
            times = f" (detected in {ttd:.1f} s, recovered in {act['time_to_recover_ms'] / 1000:.1f} s)"
        reason = f": {act['reason']}" if act.get("reason") else ""
        self.say(f"ACTION   {act['action']} -> {act['target']} [{act['status']}]{times}{reason}")

    def wait(self, what: str, predicate: Callable[[], Any], timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            time.sleep(0.5)
        self.say(f"gave up waiting for {what} after {timeout_s:.0f} s")
        return None

    def incident(self, type_: str, since: float, service: str | None = None) -> dict[str, Any] | None:
        for inc in self.incidents:
            if inc["type"] == type_ and inc["_seen"] >= since and (service is None or inc["service"] == service):
                return inc
        return None

    def outcome(self, incident: dict[str, Any]) -> dict[str, Any] | None:
        """The healer's final word on an incident (or on an earlier one with the same fingerprint)."""
        final = {"resolved", "escalated", "refused"}
        for act in self.actions:
            same = act["fingerprint"] == incident["fingerprint"]
            if same and act["status"] in final and act["_seen"] >= incident["_seen"] - 1:
                return act
        return None


@dataclass
class Result:
    scenario: str
    detected_s: float | None = None
    incident: str = ""
    outcome: str = "not detected"
    recovered_s: float | None = None

    @property
    def ok(self) -> bool:
        """Detected and answered: healed, or handed to a human with the reason (e.g. the gate said no)."""
        return self.outcome.startswith(("resolved", "escalated"))


def model_version(stack: Stack) -> int | None:
    try:
        reply = httpx.get(f"{stack.url('inference')}/model", timeout=2.0)
        return reply.json().get("version") if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.docker = _docker_available()
        in_docker = ["inference"] if self.docker else []
        # Short feature windows fill within seconds; the trainer starts once they are full, so the first
        # model (and the detectors' baselines) see steady traffic, not windows still filling up.
        self.stack = Stack(
            name="demo",
            services=[s for s in SERVICES if s != "trainer"],
            in_docker=in_docker,
            env={
                "AIG_MEMBER_WINDOW_S": str(args.feature_window_s),
                "AIG_JOB_WINDOW_S": str(args.feature_window_s),
                "AIG_MIN_ROWS": str(int(args.rate * args.train_window_s * 0.6)),
                "AIG_CHECK_INTERVAL_S": "3",
                "AIG_WINDOW_HOURS": str(args.train_window_s / 3600),
                "AIG_COOLDOWN_S": "20",
            },
        )
        self.feed = Feed(self.stack)
        self.traffic: Any = None
        self.results: list[Result] = []

    def send(self, faults: list[tuple[str, float]], params: list[str]) -> None:
        """(Re)start traffic with these faults active from the start; the fault set only grows."""
        if self.traffic is not None:
            self.traffic.terminate()
            self.traffic.wait(30)
        self.traffic = self.stack.loadgen(rate=self.args.rate, faults=faults, params=params)

    def scenario(self, name: str, inject: Callable[[], None], type_: str, service: str | None,
                 detect_s: float, heal_s: float) -> None:
        self.feed.say(f"=== {name} ===")
        start = time.monotonic()
        inject()
        result = Result(name)
        self.results.append(result)
        inc = self.feed.wait(f"a {type_} incident", lambda: self.feed.incident(type_, start, service), detect_s)
        if inc is None:
            return
        result.detected_s = inc["_seen"] - start
        result.incident = f"{inc['type']}: {inc.get('target') or inc['service']}"
        out = self.feed.wait("the healer's outcome", lambda: self.feed.outcome(inc), heal_s)
        if out is None:
            result.outcome = "no outcome"
            return
        if out["status"] == "resolved":
            result.outcome = f"resolved by {out['action']}"
        else:
            result.outcome = f"{out['status']}: {self._why(inc)}"
        if out.get("time_to_recover_ms") is not None:
            result.recovered_s = out["time_to_recover_ms"] / 1000

    def run(self) -> int:
        self.feed.say(f"starting the stack (run {self.stack.run_id}, logs in {self.stack.dir})")
        if not self.docker:
            self.feed.say("no Docker engine answers: inference runs as a process and the crash scenario is skipped")
        self.stack.start()
        threading.Thread(target=self.feed.run, daemon=True).start()
        self.feed.say("all services healthy; sending traffic while the feature windows fill up")
        self.send([], [])
        time.sleep(self.args.feature_window_s + self.args.train_window_s)
        self.feed.say("starting the trainer: it trains the first model by itself from the labelled rows")
        self.stack.start_service("trainer")
        self.stack.wait_healthy(["trainer"])
        if self.feed.wait("the first model", lambda: model_version(self.stack), 180) is None:
            return 1
        self.feed.say(f"model v{model_version(self.stack)} is live; letting the detectors learn normal traffic")
        time.sleep(self.args.warmup_s)
        # Order matters: a covariate shift also raises the model's error rate, so concept drift goes first.
        if self.docker:
            self.scenario("crash: SIGKILL to the inference container", self._kill_inference,
                          "service_down", "inference", 60, 120)
            self.calm()
        concept = [("concept_drift", 0.0)]
        self.scenario("concept drift: the apply function changes", lambda: self.send(concept, []),
                      "concept_drift", None, 180, 360)
        self.calm()
        shift_params = ["feature=salary_k", "std=2"]
        self.scenario("feature drift: salary_k +2 std",
                      lambda: self.send([*concept, ("covariate_shift", 0.0)], shift_params),
                      "data_drift", None, 120, 360)
        return self.summary()

    def _why(self, inc: dict[str, Any]) -> str:
        """The last failed or refused step before an escalation, in a few words."""
        steps = [a for a in self.feed.actions if a["fingerprint"] == inc["fingerprint"]
                 and a["status"] in {"failed", "refused"} and a["_seen"] >= inc["_seen"] - 1]
        return (steps[-1].get("reason") or steps[-1]["status"])[:60] if steps else "no automatic fix"

    def calm(self, quiet_s: float = 20.0, timeout_s: float = 120.0) -> None:
        """Wait until no incident or action has arrived for ``quiet_s``, so scenarios do not overlap."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            last = max([r["_seen"] for r in self.feed.incidents + self.feed.actions], default=0.0)
            if time.monotonic() - last >= quiet_s:
                return
            time.sleep(1.0)

    def _kill_inference(self) -> None:
        self.stack.containers["inference"].kill(signal="SIGKILL")

    def summary(self) -> int:
        print("\nscenario                                       detected after  incident                     outcome"
              "                      recovered in")
        for r in self.results:
            det = f"{r.detected_s:6.1f} s" if r.detected_s is not None else "     -  "
            rec = f"{r.recovered_s:6.1f} s" if r.recovered_s is not None else "-"
            print(f"{r.scenario:46} {det:>14}  {r.incident:28} {r.outcome:28} {rec}")
        ok = all(r.ok for r in self.results)
        print(f"\n{sum(r.ok for r in self.results)}/{len(self.results)} scenarios detected and answered; "
              f"incidents {len(self.feed.incidents)}, healer actions {len(self.feed.actions)}; "
              f"logs in {self.stack.dir}")
        return 0 if ok else 1

    def close(self) -> None:
        self.feed.stop.set()
        if self.traffic is not None:
            self.traffic.terminate()
            self.traffic.wait(30)
        self.stack.stop()


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


def add_parser(sub: Any) -> None:
    demo = sub.add_parser("demo", help="the closed-loop demo on the local infrastructure")
    demo.add_argument("--rate", type=float, default=150.0, help="interactions per second (default 150)")
    demo.add_argument("--warmup-s", type=float, default=40.0, help="normal traffic after the first model (default 40)")
    demo.add_argument("--train-window-s", type=float, default=30.0,
                      help="the trainer learns from the newest rows of this many seconds (default 30)")
    demo.add_argument("--feature-window-s", type=int, default=20,
                      help="window of the member_views and job_views features (default 20)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)  # stop the stack on SIGTERM too, not only on Ctrl-C
    demo = Demo(args)
    try:
        return demo.run()
    except KeyboardInterrupt:
        print("demo: interrupted, stopping the stack", file=sys.stderr)
        return 130
    except StackError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave services behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.close()

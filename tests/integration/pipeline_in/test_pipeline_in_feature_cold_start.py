"""The feature worker started cold, on a topic prefix where no topic exists yet: it creates every topic
it needs (the catalogue and faust's own: repartition, changelogs, leader) before faust subscribes, so
its first assignment covers them and the very first interactions become feature vectors.

Faust used to create its repartition topic moments before subscribing; when the broker did not list
it yet, the topic was left out of the assignment until the next metadata refresh (5 minutes) and no
vector came out. The cold start runs several times, on fresh prefixes, so such a race shows up.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from feature_itest_support import send_interactions, start_feature_worker

from kit.kafka import delete_topics_with_prefix, read_topic
from kit.ports import free_port
from kit.procs import terminate
from kit.records import interaction
from kit.wait import wait_until
from services.common.events import now_ms
from services.common.settings import CommonSettings
from services.common.topics import KafkaTopic, unserved_topics
from tests.integration.common.service_itest_support import ReadyAnswer, get_ready

COLD_STARTS = 3
EVENTS = 20


class ReadyRecorder:
    """Polls /ready in a thread from the first answer until the first 200, keeping every answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: list[ReadyAnswer] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ready-poller", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            answer = get_ready(self.port)
            if answer is not None:
                self.answers.append(answer)
                if answer.status == 200:
                    return
            self.stop.wait(0.05)

    def first_ready(self) -> ReadyAnswer | None:
        return next((a for a in self.answers if a.status == 200), None)


@pytest.fixture
def fresh_prefixes(infra: dict[str, str]) -> Iterator[list[str]]:
    """Collects the prefixes a test used; their topics are deleted afterwards."""
    used: list[str] = []
    yield used
    for prefix in used:
        delete_topics_with_prefix(infra["kafka_bootstrap"], prefix)


def _topics_with(bootstrap: str, prefix: str) -> list[str]:
    return [
        t for t in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics if t.startswith(prefix)
    ]


def _served(bootstrap: str, name: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return not unserved_topics(admin.list_topics(timeout=10).topics, [KafkaTopic(name, 3)])


def _cold_start(prefix: str, tmp: Path, redis_url: str) -> tuple[ReadyRecorder, list[dict[str, Any]], Path]:
    """One cold start: the worker on an empty prefix, interactions sent as soon as their topic exists."""
    settings = CommonSettings(topic_prefix=prefix, log_to_kafka=False)
    assert _topics_with(settings.kafka_bootstrap, prefix) == [], f"prefix {prefix} is not fresh"
    log = tmp / "feature.log"
    port = free_port()
    env = {
        **os.environ,
        "AIG_TOPIC_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
        "AIG_HTTP_PORT": str(port),
        "AIG_REDIS_URL": redis_url,
        "AIG_REDIS_KEY_PREFIX": f"{prefix}features:",
    }
    worker = start_feature_worker(env, tmp / "data", log)
    recorder: ReadyRecorder | None = None
    try:
        recorder = ReadyRecorder(port)
        recorder.thread.start()
        wait_until(
            lambda: _served(settings.kafka_bootstrap, settings.topic("interactions.valid")),
            60,
            "the worker did not create interactions.valid",
            log,
            worker,
        )
        base = now_ms()
        # Sent while faust may still be starting: one member and one job, so the counts are checkable.
        events = [{**interaction(i), "member_id": "m-cold", "job_id": "j-cold", "ts": base + i} for i in range(EVENTS)]
        send_interactions(settings, events)
        wanted = {e["event_id"] for e in events}
        vectors = read_topic(
            settings, "features", timeout_s=120, until=lambda rows: {r["interaction_id"] for r in rows} >= wanted
        )
        missing = wanted - {v["interaction_id"] for v in vectors}
        assert not missing, (
            f"{len(missing)} of {EVENTS} interactions got no FeatureVector within 120 s (prefix {prefix}); read {log}"
        )
        wait_until(recorder.first_ready, 60, "/ready never answered 200", log, worker)
    finally:
        code = terminate(worker, 30.0)
        if recorder is not None:
            recorder.stop.set()
            recorder.thread.join(5)
    assert code == 0, f"the worker exited with {code} on SIGTERM; read {log}"
    return recorder, vectors, log


@pytest.mark.timeout(600)
def test_cold_start_on_fresh_topics_turns_the_first_interactions_into_vectors(
    fresh_prefixes: list[str], tmp_path: Path, redis_url: str
) -> None:
    for run in range(COLD_STARTS):
        prefix = f"t{uuid.uuid4().hex[:10]}."
        fresh_prefixes.append(prefix)
        tmp = tmp_path / f"run-{run}"
        tmp.mkdir()
        recorder, vectors, log = _cold_start(prefix, tmp, redis_url)
        app_id = f"{prefix}aig-feature"
        expected = {
            f"{app_id}-by-job",
            f"{app_id}-member-views-changelog",
            f"{app_id}-job-views-changelog",
            f"{app_id}-__assignor-__leader",
        }
        created = set(_topics_with(CommonSettings().kafka_bootstrap, prefix))
        assert expected <= created, f"faust's own topics missing: {sorted(expected - created)}; read {log}"

        # Fresh tables count from 1 and see every interaction (at-least-once: a replay may count one twice).
        counts = sorted({int(v["numeric"]["member_views"]) for v in vectors})
        assert counts[0] == 1 and counts[-1] >= EVENTS, f"member_views {counts}; read {log}"

        first_ready = recorder.first_ready()
        assert first_ready is not None
        early = [a for a in recorder.answers if a.status != 200]
        assert early and early[0].status == 503, f"first /ready answers: {recorder.answers[:3]}; read {log}"
        assert all(a.status == 503 and not a.body["ready"] for a in early), early
        # 200 only once faust holds partitions of its input, its repartition topic and its changelogs.
        reason = first_ready.reason("faust_worker")
        for topic in (
            f"{prefix}interactions.valid",
            f"{app_id}-by-job",
            f"{app_id}-member-views-changelog",
            f"{app_id}-job-views-changelog",
        ):
            assert f"{topic}: 3" in reason, f"{topic} not held when /ready turned 200: {reason}; read {log}"
        text = log.read_text(errors="replace")
        for sign in ("Ignoring missing topic", "not found in cluster metadata"):
            assert sign not in text, f"{sign!r} in the worker log (cold start {run + 1}); read {log}"
        print(
            f"cold start {run + 1}: {len(early)} answers 503 before ready ({early[0].reasons}); {len(vectors)} vectors"
        )

"""The faust stream app: interactions.valid -> per-member window -> (by job) per-job window -> features.

Two stages because the tables are partitioned like their input: stage one reads interactions keyed
by member and keeps the member counts; it forwards each interaction keyed by job to an internal
topic, where stage two keeps the job counts, builds the FeatureVector and updates the online store.
Both tables live in rocksdb under ``data_dir`` and are backed by changelog topics, so a restarted
(or moved) worker recovers its counts instead of starting at zero.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import faust
from mode.utils.times import want_seconds

from services.common.bus import EventProducer
from services.common.codec import AvroCodec, CodecError, codec_for
from services.common.connections import async_redis_client
from services.common.deadletter import dead_letter_record
from services.common.events import now_ms
from services.common.topics import KafkaTopic
from services.feature import handlers, metrics
from services.feature.readiness import WorkerReadiness
from services.feature.settings import FeatureSettings

log = logging.getLogger(__name__)


@dataclass
class FeatureApp:
    app: faust.App
    member_views: Any  # faust.Table
    job_views: Any
    by_member: Any  # the agents, for agent.test_context()
    by_job: Any
    source: Any  # the faust topics: interactions.valid and the internal repartition topic
    by_job_topic: Any


class OnlineStore:
    """Async Redis writer of the online feature hashes, batched.

    ``write`` only records the newest fields per hash; :meth:`flush` (run by a timer every
    ``online_flush_s``, or at once when ``online_max_pending`` hashes wait) sends them in one
    pipeline. Awaiting a Redis round trip per event used to cap the worker at a few hundred
    events/s on a busy machine; batching also writes a hot member or job once per flush.
    Failures are counted, never fatal: the next event rewrites the same hashes.
    """

    def __init__(self, settings: FeatureSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self._pending: dict[str, dict[str, str]] = {}
        self._vectors = 0

    async def write(self, fv: dict[str, Any]) -> None:
        self._pending.update(handlers.online_hashes(fv, self.settings.redis_key_prefix))
        self._vectors += 1
        if len(self._pending) >= self.settings.online_max_pending:
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        vectors, self._vectors = self._vectors, 0
        if self._client is None:
            self._client = async_redis_client(self.settings, socket_timeout=2)
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, fields in batch.items():
                pipe.hset(key, mapping=fields)
                ttl = self.settings.pair_ttl_s if ":pair:" in key else self.settings.online_ttl_s
                pipe.expire(key, ttl)
            await pipe.execute()
            metrics.ONLINE_WRITES.labels("ok").inc(vectors)
        except Exception as exc:
            metrics.ONLINE_WRITES.labels("failed").inc(vectors)
            log.warning("online store write of %d hashes failed: %s: %s", len(batch), type(exc).__name__, exc)


def build_app(
    settings: FeatureSettings,
    *,
    codec: AvroCodec | None = None,
    dead_letters: EventProducer | None = None,
    online: OnlineStore | None = None,
) -> FeatureApp:
    codec = codec or codec_for(settings.schemas_dir)
    app_id = settings.topic(settings.app_id)
    (settings.data_dir / app_id).mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=settings.store,
        datadir=str(settings.data_dir / app_id),
        topic_partitions=3,
        topic_replication_factor=1,
        table_standby_replicas=0,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_s,
        web_enabled=settings.web_port > 0,
        web_port=settings.web_port or 6066,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        producer_acks=-1,
        producer_linger=settings.producer_linger_s,
    )
    source = app.topic(settings.topic("interactions.valid"), value_serializer="raw", key_serializer="raw")
    by_job_topic = app.topic(
        f"{app_id}-by-job", internal=True, partitions=3, value_serializer="raw", key_serializer="raw"
    )
    features = app.topic(settings.topic("features"), value_serializer="raw", key_serializer="raw")
    counts: Any = faust.Schema(key_serializer="json", value_serializer="json")  # plain JSON, no faust models
    member_views = app.Table("member-views", default=dict, partitions=3, schema=counts)
    job_views = app.Table("job-views", default=dict, partitions=3, schema=counts)
    online_store = online or OnlineStore(settings)

    @app.timer(settings.online_flush_s)  # type: ignore[untyped-decorator]  # faust is untyped
    async def flush_online_store() -> None:
        await online_store.flush()

    def dead_letter(event: Any, stage: str, kind: str, reason: str) -> None:
        msg = event.message
        logical = settings.logical_topic(msg.topic)
        record = dead_letter_record(
            settings.service_name,
            topic=logical,
            partition=msg.partition,
            offset=msg.offset,
            key=msg.key if isinstance(msg.key, bytes) else None,
            error_type=kind,
            error=reason,
            consumer_group=app_id,
            raw=msg.value if isinstance(msg.value, bytes) else None,
        )
        producer = dead_letters
        if producer is None:
            raise RuntimeError(f"no dead-letter producer: {kind}: {reason}")
        producer.produce("deadletter", record, key=logical)
        producer.flush(10.0)  # rare: wait so the reason is kept before the offset moves on
        metrics.DEAD_LETTERS.labels(stage).inc()
        log.warning("dead-lettered %s[%d]@%d (%s): %s", logical, msg.partition, msg.offset, kind, reason[:500])

    member_window = handlers.window_ms(settings.member_window_s)
    job_window = handlers.window_ms(settings.job_window_s)

    @app.agent(source)
    async def by_member(stream: Any) -> Any:
        async for event in stream.events():
            try:
                value = codec.decode(event.value, "Interaction")
            except CodecError as exc:
                dead_letter(event, "member", "decode", str(exc))
                continue
            member = value["member_id"]
            state, count = handlers.add_to_window(member_views[member], value["ts"], *member_window)
            member_views[member] = state
            forward = {**value, "member_views": count}
            await by_job_topic.send(key=value["job_id"].encode(), value=json.dumps(forward).encode())
            yield count

    @app.agent(by_job_topic)
    async def by_job(stream: Any) -> Any:
        async for event in stream.events():
            try:
                value = json.loads(event.value)
                job = value["job_id"]
                state, count = handlers.add_to_window(job_views[job], value["ts"], *job_window)
                job_views[job] = state
                fv = handlers.feature_vector(value, value["member_views"], count, settings.service_name, now_ms())
                data = codec.encode("FeatureVector", fv)
            except (ValueError, KeyError, TypeError, CodecError) as exc:
                dead_letter(event, "job", "handler", f"{type(exc).__name__}: {exc}")
                continue
            await features.send(key=fv["member_id"].encode(), value=data)
            await online_store.write(fv)
            metrics.VECTORS.inc()
            metrics.MEMBER_VIEWS.set(value["member_views"])
            yield fv

    return FeatureApp(app, member_views, job_views, by_member, by_job, source, by_job_topic)


def _kafka_topic(app: faust.App, topic: Any, name: str) -> KafkaTopic:
    """``name`` as faust's Topic.declare would create it: same partitions, replicas, cleanup and retention."""
    config: dict[str, str] = {}
    cleanup = [flag for flag, on in (("compact", topic.compacting), ("delete", topic.deleting)) if on]
    if cleanup:
        config["cleanup.policy"] = ",".join(cleanup)
    if topic.retention:
        config["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
    config.update({key: str(value) for key, value in (topic.config or {}).items()})
    return KafkaTopic(
        name,
        partitions=topic.partitions or app.conf.topic_partitions,
        replication_factor=topic.replicas or app.conf.topic_replication_factor,
        config=config,
    )


def internal_topics(fa: FeatureApp) -> list[KafkaTopic]:
    """The topics faust declares by itself: the repartition topic, the table changelogs and the leader topic.

    Faust creates them only while it starts, moments before it subscribes; created here first (and
    waited for), the consumer's first metadata answer already lists them. Taken from the app's own
    topic objects, so names, partition counts and configs are the ones faust expects.
    """
    app = fa.app
    topics = [fa.by_job_topic, *(table.changelog_topic for table in app.tables.values())]
    if not app.conf.topic_disable_leader:
        leader: Any = app._leader_assignor
        topics.append(leader._leader_topic)  # faust's leader election topic, one partition
    return [_kafka_topic(app, topic, name) for topic in topics for name in topic.topics]


def consumed_topics(fa: FeatureApp) -> list[str]:
    """Topics of which a working worker holds partitions: its input, the repartition topic, the changelogs."""
    tables = [table.changelog_topic for table in fa.app.tables.values()]
    return [name for topic in (fa.source, fa.by_job_topic, *tables) for name in topic.topics]


def watch_readiness(fa: FeatureApp, interval_s: float = 0.5) -> WorkerReadiness:
    """A WorkerReadiness kept current by a timer on the worker's loop and reset at once when partitions go.

    Faust starts timers after the first table recovery, so until then it reports "starting".
    """
    readiness = WorkerReadiness(fa.app, [fa.by_member, fa.by_job], consumed_topics(fa))

    @fa.app.timer(interval_s)  # type: ignore[untyped-decorator]  # faust is untyped
    async def refresh_readiness() -> None:
        readiness.refresh()

    async def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        readiness.mark_not_ready("faust worker rebalancing: partitions revoked")

    revoked: Any = fa.app.on_partitions_revoked  # mode's handler type does not check with mypy
    revoked.connect(on_revoked)
    return readiness

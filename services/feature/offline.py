"""Offline store: features and labels into PostgreSQL, the trainer's training set (joined on interaction_id).

A plain consume-process-produce loop (services.common.bus): a batch is inserted, then its offsets
are committed; inserts are ON CONFLICT DO NOTHING, so a replay after a crash adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import psycopg
from psycopg.types.json import Jsonb

from services.common.bus import Event, Out, RetryableError, StreamProcessor
from services.common.connections import postgres_conninfo
from services.feature import handlers, metrics
from services.feature.settings import FeatureSettings

INSERT_FEATURES = (
    "INSERT INTO feature_rows (interaction_id, member_id, job_id, ts, numeric, categorical)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (interaction_id) DO NOTHING"
)
INSERT_LABELS = (
    "INSERT INTO labels (interaction_id, applied, ts) VALUES (%s, %s, %s) ON CONFLICT (interaction_id) DO NOTHING"
)


class OfflineWriter:
    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        self.connect = connect
        self._conn: psycopg.Connection | None = None

    def write(self, events: list[Event]) -> Iterable[Out]:
        features = [handlers.feature_row(e.value) for e in events if e.topic == "features"]
        labels = [handlers.label_row(e.value) for e in events if e.topic == "labels"]
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self.connect()
            with self._conn.transaction(), self._conn.cursor() as cur:
                if features:
                    cur.executemany(INSERT_FEATURES, [(*r[:4], Jsonb(r[4]), Jsonb(r[5])) for r in features])
                if labels:
                    cur.executemany(INSERT_LABELS, labels)
        except psycopg.OperationalError as exc:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            raise RetryableError(f"PostgreSQL: {exc}") from exc
        metrics.OFFLINE_ROWS.labels("feature_rows").inc(len(features))
        metrics.OFFLINE_ROWS.labels("labels").inc(len(labels))
        return []


def build_sink(settings: FeatureSettings) -> StreamProcessor:
    writer = OfflineWriter(lambda: psycopg.connect(postgres_conninfo(settings), autocommit=True, connect_timeout=5))
    return StreamProcessor(
        settings, ["features", "labels"], settings.topic(settings.offline_group_id), handle_batch=writer.write
    )

-- The audit trail's records applied to the tables: each record of the `audit` topic is applied once,
-- whether the healer wrote it at once or its audit sink caught up with it after a PostgreSQL outage.
CREATE TABLE IF NOT EXISTS audit_applied (
    event_id   text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

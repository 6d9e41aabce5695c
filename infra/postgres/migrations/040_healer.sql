-- Healer audit trail: incidents it received, every decision it took, and how each action ended.
-- Writes are idempotent by event id (INSERT ... ON CONFLICT DO NOTHING), so replays change nothing.

CREATE TABLE IF NOT EXISTS incidents (
    incident_id        text PRIMARY KEY,
    event_id           text NOT NULL,
    fingerprint        text NOT NULL,
    type               text NOT NULL,
    root_cause         text,
    service            text NOT NULL,
    target             text,
    severity           text NOT NULL DEFAULT 'warning',
    summary            text NOT NULL DEFAULT '',
    explanation        text NOT NULL DEFAULT '',
    count              integer NOT NULL DEFAULT 1,
    evidence           jsonb NOT NULL DEFAULT '{}'::jsonb,
    first_seen         timestamptz NOT NULL,
    last_seen          timestamptz NOT NULL,
    received_at        timestamptz NOT NULL,
    status             text NOT NULL DEFAULT 'open',
    policy_version     text,
    resolved_at        timestamptz,
    time_to_detect_ms  bigint,
    time_to_recover_ms bigint,
    postmortem         text
);
CREATE INDEX IF NOT EXISTS incidents_fingerprint_idx ON incidents (fingerprint);
CREATE INDEX IF NOT EXISTS incidents_received_idx ON incidents (received_at DESC);

CREATE TABLE IF NOT EXISTS actions (
    event_id           text PRIMARY KEY,
    action_id          text NOT NULL,
    incident_id        text NOT NULL,
    fingerprint        text NOT NULL,
    action             text NOT NULL,
    target             text NOT NULL,
    status             text NOT NULL,
    attempt            integer NOT NULL DEFAULT 1,
    dry_run            boolean NOT NULL DEFAULT false,
    reason             text NOT NULL DEFAULT '',
    detail             jsonb NOT NULL DEFAULT '{}'::jsonb,
    ts                 timestamptz NOT NULL,
    time_to_detect_ms  bigint,
    time_to_recover_ms bigint
);
CREATE INDEX IF NOT EXISTS actions_incident_idx ON actions (incident_id, ts);

CREATE TABLE IF NOT EXISTS outcomes (
    outcome_id     text PRIMARY KEY,
    action_id      text NOT NULL,
    incident_id    text NOT NULL,
    incident_class text NOT NULL,
    action         text NOT NULL,
    target         text NOT NULL,
    success        boolean NOT NULL,
    verification   text NOT NULL,
    detail         text NOT NULL DEFAULT '',
    started_at     timestamptz NOT NULL,
    verified_at    timestamptz NOT NULL,
    duration_ms    bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS outcomes_class_idx ON outcomes (incident_class, action);

-- Offline store of the monitored pipeline, written by the feature service (services/feature/offline.py).
-- The trainer joins the two tables on interaction_id. Column names of `numeric` / `categorical`
-- are listed in services/feature/schema.py (NUMERIC_FEATURES, CATEGORICAL_FEATURES).

-- One row per interaction: its model-ready features. numeric: {"salary_k": 81.2, "dwell_s": null, ...}
CREATE TABLE IF NOT EXISTS feature_rows (
    interaction_id text        PRIMARY KEY,   -- Interaction.event_id
    member_id      text        NOT NULL,
    job_id         text        NOT NULL,
    ts             timestamptz NOT NULL,      -- when the interaction happened
    numeric        jsonb       NOT NULL,      -- feature -> number or null
    categorical    jsonb       NOT NULL,      -- feature -> text
    inserted_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS feature_rows_ts_idx ON feature_rows (ts DESC);

-- The real outcome of an interaction, known later (Label events).
CREATE TABLE IF NOT EXISTS labels (
    interaction_id text        PRIMARY KEY,   -- Interaction.event_id
    applied        boolean     NOT NULL,
    ts             timestamptz NOT NULL,      -- when the outcome was known
    inserted_at    timestamptz NOT NULL DEFAULT now()
);

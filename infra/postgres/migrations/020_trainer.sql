-- Model registry of the trainer: every trained version, the live pointer and its history,
-- and the commands already obeyed (a replayed command re-emits its outputs instead of acting twice).

CREATE TABLE IF NOT EXISTS model_versions (
    model_name     text        NOT NULL,
    version        integer     NOT NULL CHECK (version > 0),
    status         text        NOT NULL CHECK (status IN ('live', 'retired', 'rejected', 'rolled_back')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    metrics        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    params         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    data_window    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    artifact_uri   text        NOT NULL,
    parent_version integer,
    reason         text        NOT NULL DEFAULT '',
    profile        jsonb       NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (model_name, version)
);

CREATE TABLE IF NOT EXISTS model_live (
    model_name text        PRIMARY KEY,
    version    integer     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    reason     text        NOT NULL DEFAULT '',
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);

CREATE TABLE IF NOT EXISTS model_live_history (
    id         bigserial   PRIMARY KEY,
    model_name text        NOT NULL,
    version    integer     NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    reason     text        NOT NULL DEFAULT '',
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);
CREATE INDEX IF NOT EXISTS model_live_history_model_idx ON model_live_history (model_name, id DESC);

CREATE TABLE IF NOT EXISTS trainer_commands (
    event_id     text        PRIMARY KEY,
    command      text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    outputs      jsonb       NOT NULL DEFAULT '[]'::jsonb
);

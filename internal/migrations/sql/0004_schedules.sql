-- Scheduled jobs' durable state: one row per job name. See package
-- internal/schedule. last_run_at is the scheduled time of the last run that
-- was claimed (not a clock reading); the leader computes the next fire time
-- from it, and claims a run with a compare-and-set on it, so two leaders
-- overlapping briefly cannot both run one scheduled time.
CREATE TABLE {{schema}}.schedules (
    name             text PRIMARY KEY,
    last_run_at      timestamptz,
    last_started_at  timestamptz,
    last_run_by      text NOT NULL DEFAULT '',
    last_status      text NOT NULL DEFAULT '',
    last_error       text NOT NULL DEFAULT '',
    last_result      text NOT NULL DEFAULT '',
    last_duration_ms bigint,
    runs             bigint NOT NULL DEFAULT 0,
    failures         bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

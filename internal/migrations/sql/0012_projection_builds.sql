-- Builds of versioned projections (blue/green rebuilds; see package
-- projection). Build N of projection p runs as subscription "p#N" and writes
-- into its own schema; the live schema holds views of the live build's
-- tables. At most one build is live and one is building per projection.
CREATE TABLE {{schema}}.projection_builds (
    projection   text NOT NULL,
    build        int NOT NULL CHECK (build >= 1),
    version      int NOT NULL CHECK (version >= 1),
    subscription text NOT NULL,
    schema_name  text NOT NULL,
    live_schema  text NOT NULL,
    state        text NOT NULL CHECK (state IN ('building', 'live', 'retired', 'aborted', 'dropped')),
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    live_at      timestamptz,
    retired_at   timestamptz,
    drop_after   timestamptz,
    dropped_at   timestamptz,
    -- Progress: the head when the build started (its target) and how many
    -- events of the projection's filter lay up to it; a sample of how many
    -- of those were done, taken every few seconds, and the rate between the
    -- last two samples.
    target_tx    xid8 NOT NULL DEFAULT '0',
    target_pos   bigint NOT NULL DEFAULT 0,
    total_events bigint NOT NULL DEFAULT 0,
    done_events  bigint NOT NULL DEFAULT 0,
    rate         double precision NOT NULL DEFAULT 0,
    sampled_at   timestamptz,
    PRIMARY KEY (projection, build)
);
CREATE UNIQUE INDEX projection_builds_one_live ON {{schema}}.projection_builds (projection) WHERE state = 'live';
CREATE UNIQUE INDEX projection_builds_one_building ON {{schema}}.projection_builds (projection) WHERE state = 'building';

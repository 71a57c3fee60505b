-- Projection effects held back while a build of a projection is not live
-- (issue 13): events its handlers emit and messages they enqueue, keyed by
-- the build's subscription (owner) and the position of the event whose
-- delivery produced them. See projection.Emit, projection.ReleaseEffects.
-- call orders a delivery's effects (its Emit and Enqueue calls); payload
-- holds the events or messages, ids and deduplication keys already derived.
CREATE TABLE {{schema}}.projection_effects (
    owner      text   NOT NULL,
    tx_id      xid8   NOT NULL,
    position   bigint NOT NULL,
    call       int    NOT NULL,
    kind       text   NOT NULL CHECK (kind IN ('emit', 'enqueue')),
    target     text   NOT NULL,
    payload    jsonb  NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, tx_id, position, call)
);

-- An operator's discard of a dead letter is remembered by event id for the
-- subscription's lineage (its base name: a versioned projection's builds
-- "p#1", "p#2" share "p"), so that no replay, move or later build delivers
-- the event again. Rows outlive the dead letter, Reset and a build's drop.
-- partition and partitions are where the dead letter was (and the
-- subscription's partition count then): a partition loads the rows of its
-- own partition at claim (discarded_events_partition), and all rows of a
-- different partition count. The event's position is not kept (restamps
-- would have to map it); its id is what counts.
CREATE TABLE {{schema}}.discarded_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lineage       text NOT NULL,
    event_id      uuid NOT NULL,
    subscription  text NOT NULL,
    partition     int NOT NULL,
    partitions    int NOT NULL,
    key           text NOT NULL,
    stream_id     text NOT NULL,
    version       bigint NOT NULL,
    event_type    text NOT NULL,
    error         text NOT NULL,
    discarded_at  timestamptz NOT NULL DEFAULT now(),
    discarded_by  text NOT NULL,
    CONSTRAINT discarded_events_event UNIQUE (lineage, event_id)
);
CREATE INDEX discarded_events_partition ON {{schema}}.discarded_events (lineage, partitions, partition);

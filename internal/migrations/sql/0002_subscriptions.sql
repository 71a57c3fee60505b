-- Subscriptions (consumer groups), their partitions with leases and
-- checkpoints, group membership, and dead letters. See package checkpoint.
CREATE TABLE {{schema}}.subscriptions (
    name        text PRIMARY KEY,
    partitions  int NOT NULL CHECK (partitions BETWEEN 1 AND 4096),
    start_tx    xid8 NOT NULL DEFAULT '0',
    start_pos   bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (subscription, partition): the checkpoint (tx_id, position),
-- and the lease. epoch is the fencing token: +1 on every claim; every
-- checkpoint write names the epoch it was claimed with.
CREATE TABLE {{schema}}.partitions (
    subscription     text NOT NULL REFERENCES {{schema}}.subscriptions (name) ON DELETE CASCADE,
    partition        int NOT NULL,
    tx_id            xid8 NOT NULL DEFAULT '0',
    position         bigint NOT NULL DEFAULT 0,
    owner            text,
    epoch            bigint NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    committed_at     timestamptz,
    PRIMARY KEY (subscription, partition)
);

CREATE TABLE {{schema}}.members (
    subscription text NOT NULL,
    member       text NOT NULL,
    host         text NOT NULL DEFAULT '',
    pid          int NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (subscription, member)
);

-- Dead letters are sequenced per key: once an event of a key is here, every
-- later event of that key in the subscription joins it (blocked = true) until
-- an operator retries or discards them.
CREATE TABLE {{schema}}.dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription    text NOT NULL,
    partition       int NOT NULL,
    key             text NOT NULL,
    event_id        uuid NOT NULL,
    event_tx        xid8 NOT NULL,
    event_pos       bigint NOT NULL,
    stream_id       text NOT NULL,
    version         bigint NOT NULL,
    event_type      text NOT NULL,
    blocked         boolean NOT NULL DEFAULT false,
    error           text NOT NULL,
    attempts        int NOT NULL,
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    retry_requested boolean NOT NULL DEFAULT false,
    CONSTRAINT dead_letters_event_key UNIQUE (subscription, event_id)
);
CREATE INDEX dead_letters_key_order ON {{schema}}.dead_letters (subscription, partition, key, event_tx, event_pos);

-- Queues: declared configuration, messages (ready, delayed, in flight,
-- acked-and-kept, dead) and deduplication keys. See package worker/queue.
CREATE TABLE {{schema}}.queues (
    name               text PRIMARY KEY,
    visibility_timeout bigint NOT NULL,  -- microseconds
    max_attempts       int NOT NULL,
    retention          bigint NOT NULL DEFAULT 0, -- microseconds; 0 = delete on ack
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- One row per message. available_at is when it may next be delivered: its
-- not-before time, a nack's retry time, or the end of its current delivery's
-- visibility (then receipt names that delivery). acked_at is set on messages
-- kept for the queue's retention; dead_at on dead letters.
CREATE TABLE {{schema}}.queue_messages (
    id           uuid PRIMARY KEY,
    queue        text NOT NULL REFERENCES {{schema}}.queues (name) ON DELETE CASCADE,
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    payload      jsonb NOT NULL,
    headers      jsonb,
    priority     int NOT NULL DEFAULT 0,
    attempts     int NOT NULL DEFAULT 0,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    available_at timestamptz NOT NULL,
    receipt      uuid,
    last_error   text NOT NULL DEFAULT '',
    acked_at     timestamptz,
    dead_at      timestamptz
);
-- What Dequeue scans: a queue's live messages in delivery order.
CREATE INDEX queue_messages_ready ON {{schema}}.queue_messages (queue, priority DESC, available_at, seq)
    WHERE acked_at IS NULL AND dead_at IS NULL;
CREATE UNIQUE INDEX queue_messages_receipt ON {{schema}}.queue_messages (receipt) WHERE receipt IS NOT NULL;
CREATE INDEX queue_messages_dead ON {{schema}}.queue_messages (queue, id) WHERE dead_at IS NOT NULL;
CREATE INDEX queue_messages_acked ON {{schema}}.queue_messages (acked_at) WHERE acked_at IS NOT NULL;

-- Deduplication keys outlive their message (acked ones are deleted) until
-- their window ends; Purge removes expired ones.
CREATE TABLE {{schema}}.queue_dedup (
    queue      text NOT NULL REFERENCES {{schema}}.queues (name) ON DELETE CASCADE,
    key        text NOT NULL,
    message_id uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (queue, key)
);
CREATE INDEX queue_dedup_expires ON {{schema}}.queue_dedup (expires_at);

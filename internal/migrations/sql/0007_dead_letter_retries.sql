-- A dead letter whose next_attempt_at is set is still being retried by the
-- partition's owner on its own (with backoff, while the key's other events
-- are parked behind it and the partition's other keys flow); NULL means it
-- waits for an operator (retry or discard). See package worker.
ALTER TABLE {{schema}}.dead_letters ADD COLUMN next_attempt_at timestamptz;

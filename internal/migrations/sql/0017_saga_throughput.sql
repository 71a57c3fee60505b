-- The event type a waiting saga waits for (empty unless waiting, and on
-- instances parked before this migration). The transaction that parks an
-- instance at a wait step looks in its inbox for that type, so an event
-- filed early makes it due at once and parking costs no claim; a filed
-- event wakes only an instance waiting for its type. Adding a column with
-- a constant default rewrites nothing.
ALTER TABLE {{schema}}.sagas ADD COLUMN wait_event text NOT NULL DEFAULT '';

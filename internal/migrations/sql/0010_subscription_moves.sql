-- Moves of a subscription to another position (start, end, a position, a
-- time), as operators asked for them: every partition's checkpoint before
-- (the lowest and highest), the new one, how the target was named, who
-- asked, and how many dead letters of events after the new position were
-- deleted. See package checkpoint (Move).
CREATE TABLE {{schema}}.subscription_moves (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription         text NOT NULL REFERENCES {{schema}}.subscriptions (name) ON DELETE CASCADE,
    from_min_tx          xid8 NOT NULL,
    from_min_pos         bigint NOT NULL,
    from_max_tx          xid8 NOT NULL,
    from_max_pos         bigint NOT NULL,
    to_tx                xid8 NOT NULL,
    to_pos               bigint NOT NULL,
    target               text NOT NULL,
    requested_by         text NOT NULL,
    requested_at         timestamptz NOT NULL DEFAULT now(),
    dead_letters_deleted int NOT NULL DEFAULT 0
);
CREATE INDEX subscription_moves_by_subscription ON {{schema}}.subscription_moves (subscription, id);

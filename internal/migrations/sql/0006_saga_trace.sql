-- The W3C trace context of the event that started a saga, so its steps'
-- spans join that trace whenever and wherever they run (see package saga).
-- Adding a column with a constant default rewrites nothing.
ALTER TABLE {{schema}}.sagas
    ADD COLUMN trace_parent text NOT NULL DEFAULT '',
    ADD COLUMN trace_state  text NOT NULL DEFAULT '';

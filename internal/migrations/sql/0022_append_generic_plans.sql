-- append_events_batch's statements take array parameters of varying
-- length; for its stream-version lookup (a subquery per element of
-- unnest(p_streams)) PostgreSQL's plan cache kept choosing a custom plan,
-- planning the statement afresh on every call: 0.14 ms of planning per
-- batch, a third of its server time (pg_stat_statements with
-- track_planning, issue 14). The generic plan is the same nested loop over
-- the array with one index probe per stream, so plan once per connection.
ALTER FUNCTION {{schema}}.append_events_batch(text[], bigint[], bigint[], boolean[], int[], uuid[], text[], jsonb[], jsonb[])
    SET plan_cache_mode = force_generic_plan;

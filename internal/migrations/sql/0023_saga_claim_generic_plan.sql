-- claim_sagas (migration 0005) was planned afresh on almost every call:
-- with n and the types as parameters PostgreSQL's plan cache judged the
-- generic plan (which, not knowing n, joins the claimed ids back to sagas
-- with a hash join over a sequential scan) worse than a custom one, and
-- paid 0.15-0.33 ms of planning per claim, as much as the claim itself
-- (pg_stat_statements with track_planning, issue 14). With hash and merge
-- joins off the generic plan is the custom plan's shape (walk sagas_due in
-- order, stop after n, one primary-key probe per claimed row), so it is
-- planned once per connection.
ALTER FUNCTION {{schema}}.claim_sagas(text[], text, int, interval)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION {{schema}}.claim_sagas(text[], text, int, interval)
    SET enable_hashjoin = off;
ALTER FUNCTION {{schema}}.claim_sagas(text[], text, int, interval)
    SET enable_mergejoin = off;

-- append_events_batch: many appends, each to one stream, in one transaction
-- (the event log's group commit; see eventlog/postgres/group.go). Append i
-- writes p_counts[i] events, taken in order from the flattened event arrays.
-- Each append is checked exactly as append_events checks it (ids, expected
-- version) and gets its own result row; one append's refusal does not
-- touch the others'.
--
-- Every stream's advisory lock is taken first, in key order, before the
-- first write assigns the transaction id: every earlier writer of these
-- streams has then committed with a smaller id (what append_events' order
-- guard checks, for all of them at once), and two batches taking locks in
-- the same order cannot deadlock.
CREATE FUNCTION {{schema}}.append_events_batch(
    p_streams  text[],
    p_expected bigint[],
    p_locks    bigint[],
    p_check    boolean[],
    p_counts   int[],
    p_ids      uuid[],
    p_types    text[],
    p_data     jsonb[],
    p_meta     jsonb[]
) RETURNS TABLE (o_index int, o_code int, o_version bigint, o_positions bigint[], o_tx xid8)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_key       bigint;
    v_off       int := 0;
    v_n         int;
    v_current   bigint;
    v_found     bigint;
    v_here      bigint;
    v_max       bigint;
    v_position  bigint;
    v_positions bigint[];
    v_slice     uuid[];
BEGIN
    FOREACH v_key IN ARRAY (SELECT array_agg(DISTINCT k ORDER BY k) FROM unnest(p_locks) k) LOOP
        PERFORM pg_advisory_xact_lock(v_key);
    END LOOP;

    FOR i IN 1 .. cardinality(p_streams) LOOP
        v_n := p_counts[i];
        o_index := i;
        o_tx := NULL;
        o_positions := NULL;

        SELECT e.version INTO v_current
          FROM {{schema}}.events e
         WHERE e.stream_id = p_streams[i]
         ORDER BY e.version DESC
         LIMIT 1;
        v_current := coalesce(v_current, 0);

        IF p_check[i] THEN
            v_slice := p_ids[v_off + 1 : v_off + v_n];
            SELECT count(*), count(*) FILTER (WHERE e.stream_id = p_streams[i]), max(e.version),
                   array_agg(e.position ORDER BY e.version)
              INTO v_found, v_here, v_max, v_positions
              FROM {{schema}}.events e
             WHERE e.event_id = ANY (v_slice);
            IF v_found > 0 THEN
                IF v_found = v_n AND v_here = v_found THEN
                    o_code := 1; o_version := v_max; o_positions := v_positions;
                ELSE
                    o_code := 3; o_version := v_current;
                END IF;
                RETURN NEXT;
                v_off := v_off + v_n;
                CONTINUE;
            END IF;
        END IF;

        IF NOT (p_expected[i] = -1
                OR (p_expected[i] = -2 AND v_current > 0)
                OR p_expected[i] = v_current) THEN
            o_code := 2; o_version := v_current;
            RETURN NEXT;
            v_off := v_off + v_n;
            CONTINUE;
        END IF;

        IF v_n = 1 THEN
            INSERT INTO {{schema}}.events (event_id, stream_id, version, type, data, metadata)
            VALUES (p_ids[v_off + 1], p_streams[i], v_current + 1, p_types[v_off + 1], p_data[v_off + 1], p_meta[v_off + 1])
            RETURNING position INTO v_position;
            v_positions := ARRAY[v_position];
        ELSE
            WITH ins AS (
                INSERT INTO {{schema}}.events (event_id, stream_id, version, type, data, metadata)
                SELECT u.id, p_streams[i], v_current + u.ord, u.typ, u.dat, u.met
                  FROM unnest(p_ids[v_off + 1 : v_off + v_n], p_types[v_off + 1 : v_off + v_n],
                              p_data[v_off + 1 : v_off + v_n], p_meta[v_off + 1 : v_off + v_n])
                       WITH ORDINALITY AS u(id, typ, dat, met, ord)
                 ORDER BY u.ord
                RETURNING position, version
            )
            SELECT array_agg(ins.position ORDER BY ins.version) INTO v_positions FROM ins;
        END IF;
        o_code := 0; o_version := v_current + v_n; o_positions := v_positions; o_tx := pg_current_xact_id();
        RETURN NEXT;
        v_off := v_off + v_n;
    END LOOP;
END
$fn$;

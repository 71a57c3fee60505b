-- append_events_batch, set-based (issue 14). The group commit
-- (eventlog/postgres/group.go) sends at most one append per stream in a
-- batch, so the batch needs no per-append statements: one statement takes
-- the advisory locks (in key order, before the first write, as before), one
-- reads every stream's current version, the checks run in PL/pgSQL without
-- SQL, and one INSERT writes every accepted append's events. The per-append
-- SELECT and INSERT of 0015 cost an executor start-up each.
--
-- A batch that does name a stream twice is still safe: both appends read
-- the same current version and write the same next one, the unique
-- (stream_id, version) refuses the statement, and the caller runs each
-- append alone (what the group does after any failed batch).
CREATE OR REPLACE FUNCTION {{schema}}.append_events_batch(
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
    v_n         int := cardinality(p_streams);
    v_current   bigint[];
    v_write     boolean[];
    v_off       int[];
    v_app       int[];
    v_o         int := 0;
    v_found     bigint;
    v_here      bigint;
    v_max       bigint;
    v_positions bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(l.k)
       FROM (SELECT DISTINCT k FROM unnest(p_locks) AS k ORDER BY k) AS l;

    SELECT array_agg(coalesce((SELECT e.version FROM {{schema}}.events e
                                WHERE e.stream_id = u.s ORDER BY e.version DESC LIMIT 1), 0)
                     ORDER BY u.i)
      INTO v_current
      FROM unnest(p_streams) WITH ORDINALITY AS u(s, i);

    v_write := array_fill(true, ARRAY[v_n]);
    v_off := array_fill(0, ARRAY[v_n]);
    FOR i IN 1 .. v_n LOOP
        v_off[i] := v_o;
        v_o := v_o + p_counts[i];
        o_index := i; o_positions := NULL; o_tx := NULL;
        IF p_check[i] THEN
            SELECT count(*), count(*) FILTER (WHERE e.stream_id = p_streams[i]), max(e.version),
                   array_agg(e.position ORDER BY e.version)
              INTO v_found, v_here, v_max, v_positions
              FROM {{schema}}.events e
             WHERE e.event_id = ANY (p_ids[v_off[i] + 1 : v_off[i] + p_counts[i]]);
            IF v_found > 0 THEN
                IF v_found = p_counts[i] AND v_here = v_found THEN
                    o_code := 1; o_version := v_max; o_positions := v_positions;
                ELSE
                    o_code := 3; o_version := v_current[i];
                END IF;
                v_write[i] := false;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        IF NOT (p_expected[i] = -1
                OR (p_expected[i] = -2 AND v_current[i] > 0)
                OR p_expected[i] = v_current[i]) THEN
            o_code := 2; o_version := v_current[i];
            v_write[i] := false;
            RETURN NEXT;
        END IF;
    END LOOP;

    -- v_app[k]: the append that event k belongs to.
    v_app := array_fill(0, ARRAY[v_o]);
    FOR i IN 1 .. v_n LOOP
        FOR k IN v_off[i] + 1 .. v_off[i] + p_counts[i] LOOP
            v_app[k] := i;
        END LOOP;
    END LOOP;

    -- Event-level unnest (its row estimate is the arrays' length, so the
    -- plan stays cheap; a join against generate_series was estimated at
    -- thousands of rows and brought in JIT compilation).
    RETURN QUERY
    WITH ins AS (
        INSERT INTO {{schema}}.events (event_id, stream_id, version, type, data, metadata)
        SELECT u.id, p_streams[v_app[u.k]], v_current[v_app[u.k]] + (u.k - v_off[v_app[u.k]]), u.typ, u.dat, u.met
          FROM unnest(p_ids, p_types, p_data, p_meta) WITH ORDINALITY AS u(id, typ, dat, met, k)
         WHERE v_write[v_app[u.k]]
         ORDER BY u.k
        RETURNING stream_id, version, position
    )
    SELECT s.i::int, 0, v_current[s.i] + p_counts[s.i], array_agg(ins.position ORDER BY ins.version), pg_current_xact_id()
      FROM ins JOIN unnest(p_streams) WITH ORDINALITY AS s(stream, i) ON s.stream = ins.stream_id
     GROUP BY s.i;
END
$fn$;

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

    RETURN QUERY
    WITH a AS (
        SELECT i, p_streams[i] AS s, p_counts[i] AS n, v_current[i] AS c, v_off[i] AS o
          FROM generate_subscripts(p_streams, 1) AS i
         WHERE v_write[i]
    ), ins AS (
        INSERT INTO {{schema}}.events (event_id, stream_id, version, type, data, metadata)
        SELECT p_ids[a.o + j], a.s, a.c + j, p_types[a.o + j], p_data[a.o + j], p_meta[a.o + j]
          FROM a, generate_series(1, a.n) AS j
         ORDER BY a.i, j
        RETURNING stream_id, version, position
    ), g AS (
        SELECT ins.stream_id, array_agg(ins.position ORDER BY ins.version) AS ps
          FROM ins GROUP BY ins.stream_id
    )
    SELECT a.i::int, 0, a.c + a.n, g.ps, pg_current_xact_id()
      FROM a JOIN g ON g.stream_id = a.s;
END
$fn$;

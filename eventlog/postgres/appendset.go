package postgres

// appendSetSQL returns the group commit's statements (t: the quoted
// schema). The group sends them in one pgx.Batch: one round trip, one Sync,
// so PostgreSQL runs them as one implicit transaction and a failure of
// either rolls back both.
//
// locks takes every stream's advisory lock in key order ($1: the keys),
// before the first write, as append_events does for one stream. It must be
// a statement of its own: in READ COMMITTED a statement's snapshot is taken
// when it starts, so a version read by the statement that waited for a lock
// would miss what the lock's holder committed meanwhile. set starts after
// the locks are held and so sees every earlier writer of its streams.
//
// set does what append_events_batch (migration 0019) did, as plain SQL: one
// row per append (its index, a result code as append_events', the version,
// the positions and the transaction id), the checks of each append on its
// own, so one refused append refuses no other:
//
//	$1 streams  text[]    one per append (at most one append per stream)
//	$2 expected bigint[]  -1 any, -2 stream exists, else exact (0: no stream)
//	$3 check    boolean[] the caller chose the ids: look for a repeat
//	$4 counts   int[]     events per append
//	$5 offsets  int[]     events before the append in $7..$10
//	$6 apps     int[]     per event: its append (1-based)
//	$7..$10     uuid[], text[], jsonb[], jsonb[]: the events' ids, types,
//	            data and metadata, appends in order
//
// Codes: 0 appended; 1 an idempotent repeat (every id stored in this
// stream: the stored version and positions, no transaction id); 2 wrong
// expected version (with the current one); 3 ids stored, but not all or
// in another stream. As in append_events_batch, a batch naming a stream
// twice would write one version twice: the unique key refuses the whole
// statement and the group runs each append alone.
//
// Plain SQL rather than the PL/pgSQL function: the function's interpreter
// cost about 90 µs of server CPU per batch on top of its statements
// (pg_stat_statements, issue 14). Each array parameter is read through a
// scalar subquery ((SELECT $n)): a custom plan would otherwise see the
// arrays' real lengths, cost itself below the generic plan (estimated at 10
// elements) and PostgreSQL's plan cache would plan the statement afresh on
// every call; through the subquery both estimate 10, the generic plan wins
// after the first five calls and is kept for the connection. Its shape
// suits any batch size: one index probe per append for the version, the id
// lookup only for appends with $3 (a one-time filter), events mapped to
// their append by array subscript (no join of events with appends), the
// insert in event order (positions follow versions).
//
// locks also turns sequential scans off for the rest of the transaction
// (set_config's is_local; the batch is one implicit transaction), so that
// set is always planned with index lookups. Its generic plan is made once
// per connection, often while the events table is still small and not yet
// analyzed: the id lookup was then planned as a sequential scan, kept
// until an ANALYZE invalidated the plan, and a batch with caller-given ids
// cost 6–8 ms at 16,000 events instead of 0.2 (measured on a young table
// with autovacuum off; TestAppendBatchUsesIndexesOnAYoungTable). set only
// ever looks events up by a unique key or an index prefix, so no plan of
// it wants a sequential scan of events.
//
// setNoIDs is set without the id lookup, for a batch in which no append
// has caller-given ids (the common case; $3 is then all false): even
// skipped by its one-time filter, the lookup's per-append aggregate made
// a batch of 4 cost the server more than append_events_batch did.
func appendSetSQL(t string) (locks, set, setNoIDs string) {
	locks = `SELECT pg_advisory_xact_lock(l.k)
		FROM (SELECT DISTINCT k FROM unnest((SELECT $1::bigint[])) AS k ORDER BY k) AS l,
			set_config('enable_seqscan', 'off', true) AS noseq`
	return locks, appendSetStatement(t, true), appendSetStatement(t, false)
}

func appendSetStatement(t string, ids bool) string {
	r := `SELECT a.i, a.s, a.cnt, a.off, coalesce(v.version, 0) AS cur, NULL::bigint AS mx, NULL::bigint[] AS pos,
			CASE WHEN a.exp = -1 OR (a.exp = -2 AND v.version > 0) OR a.exp = coalesce(v.version, 0) THEN 0
			     ELSE 2 END AS code`
	f := ``
	if ids {
		r = `SELECT a.i, a.s, a.cnt, a.off, coalesce(v.version, 0) AS cur, f.mx, f.pos,
			CASE WHEN f.found > 0 THEN CASE WHEN f.found = a.cnt AND f.here = f.found THEN 1 ELSE 3 END
			     WHEN a.exp = -1 OR (a.exp = -2 AND v.version > 0) OR a.exp = coalesce(v.version, 0) THEN 0
			     ELSE 2 END AS code`
		f = `
		CROSS JOIN LATERAL (
			SELECT count(*) AS found, count(*) FILTER (WHERE e.stream_id = a.s) AS here, max(e.version) AS mx,
				array_agg(e.position ORDER BY e.version) AS pos
			FROM ` + t + `.events e
			WHERE a.chk AND e.event_id = ANY (($7::uuid[])[a.off + 1 : a.off + a.cnt])
		) f`
	}
	return `WITH r AS (
		` + r + `
		FROM unnest((SELECT $1::text[]), (SELECT $2::bigint[]), (SELECT $3::boolean[]), (SELECT $4::int[]), (SELECT $5::int[]))
			WITH ORDINALITY AS a(s, exp, chk, cnt, off, i)
		LEFT JOIN LATERAL (
			SELECT e.version FROM ` + t + `.events e WHERE e.stream_id = a.s ORDER BY e.version DESC LIMIT 1
		) v ON true` + f + `
	), w AS (
		SELECT array_agg(CASE WHEN r.code = 0 THEN r.cur END ORDER BY r.i) AS cur,
			array_agg(r.s ORDER BY r.i) AS s, array_agg(r.off ORDER BY r.i) AS off
		FROM r
	), ins AS (
		INSERT INTO ` + t + `.events (event_id, stream_id, version, type, data, metadata)
		SELECT u.id, w.s[u.app], w.cur[u.app] + (u.k - w.off[u.app]), u.typ, u.dat, u.met
		FROM w, unnest((SELECT $6::int[]), (SELECT $7::uuid[]), (SELECT $8::text[]), (SELECT $9::jsonb[]), (SELECT $10::jsonb[]))
			WITH ORDINALITY AS u(app, id, typ, dat, met, k)
		WHERE w.cur[u.app] IS NOT NULL
		ORDER BY u.k
		RETURNING stream_id, version, position
	)
	SELECT r.i::int, r.code,
		CASE r.code WHEN 0 THEN r.cur + r.cnt WHEN 1 THEN r.mx ELSE r.cur END,
		CASE r.code WHEN 0 THEN p.pos WHEN 1 THEN r.pos END,
		CASE r.code WHEN 0 THEN pg_current_xact_id() END
	FROM r LEFT JOIN (
		SELECT ins.stream_id, array_agg(ins.position ORDER BY ins.version) AS pos FROM ins GROUP BY ins.stream_id
	) p ON p.stream_id = r.s`
}

package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
)

// The lean batch: the group commit's statement for the common case, a batch
// in which no append names its own event ids and none is long.
//
// appendSet (appendset.go) does every check in SQL and answers with one row
// per append. Measured against single-row INSERTs (issue 14), most of its
// server time was not the rows it wrote but the plan it ran to write them:
// CTEs, aggregates and joins that PostgreSQL initialises afresh on every
// execution, about 40 µs of server CPU per event in batches of four, which
// made group commit cost the server as much as the autocommit INSERTs it
// coalesces. appendLean is one INSERT … SELECT: per event, the stream's
// current version (one index probe), the append's expected-version check as
// a WHERE, and RETURNING what the append reports; the client maps rows back
// to appends (at most one append per stream in a batch). An append whose
// check failed writes no rows; its current version is read after the
// commit, only then (leanConflicts).
//
// Not lean: appends with caller-given ids (a repeat must be recognised and
// answered with the original positions, which needs the id lookup), and
// appends of more than leanMaxEvents events (the version probe runs once
// per event here, once per append in appendSet).
const leanMaxEvents = 16

// leanBatch reports whether batch can run as the lean statement.
func leanBatch(batch []*groupReq) bool {
	for _, r := range batch {
		if r.Req.callerIDs || len(r.Req.ids) > leanMaxEvents {
			return false
		}
	}
	return true
}

// appendLeanSQL returns the lean statement (t: the quoted schema). Per
// event, in append order:
//
//	$1 ids      uuid[]
//	$2 streams  text[]    the event's stream
//	$3 k        int[]     its place in its append (1-based)
//	$4 expected bigint[]  its append's: -1 any, -2 stream exists, else exact
//	$5..$7      text[], jsonb[], jsonb[]: types, data, metadata
//
// Every event of an append sees the same version (the statement's snapshot
// does not see its own rows), so an append is written whole or not at all.
// Rows are inserted in event order (positions follow versions). Arrays are
// read through scalar subqueries, as in appendSet, so that the generic plan
// is kept; the lock statement before it turns sequential scans off, so the
// probe is an index scan even on a young table.
func appendLeanSQL(t string) string {
	return `INSERT INTO ` + t + `.events (event_id, stream_id, version, type, data, metadata)
		SELECT u.id, u.s, coalesce(v.version, 0) + u.k, u.typ, u.dat, u.met
		FROM unnest((SELECT $1::uuid[]), (SELECT $2::text[]), (SELECT $3::int[]), (SELECT $4::bigint[]),
				(SELECT $5::text[]), (SELECT $6::jsonb[]), (SELECT $7::jsonb[]))
			WITH ORDINALITY AS u(id, s, k, exp, typ, dat, met, n)
		LEFT JOIN LATERAL (
			SELECT e.version FROM ` + t + `.events e WHERE e.stream_id = u.s ORDER BY e.version DESC LIMIT 1
		) v ON true
		WHERE u.exp = -1 OR (u.exp = -2 AND v.version > 0) OR u.exp = coalesce(v.version, 0)
		ORDER BY u.n
		RETURNING stream_id, version, position, tx_id`
}

// appendCurrentSQL reads streams' current versions (0: no stream), for the
// appends of a lean batch whose check failed.
func appendCurrentSQL(t string) string {
	return `SELECT coalesce((SELECT e.version FROM ` + t + `.events e
			WHERE e.stream_id = s ORDER BY e.version DESC LIMIT 1), 0)
		FROM unnest($1::text[]) AS s`
}

// queueLean adds the lean statement for batch to b.
func (s *Store) queueLean(b *pgx.Batch, batch []*groupReq) {
	events := 0
	for _, r := range batch {
		events += len(r.Req.ids)
	}
	var (
		ids      = make([][16]byte, 0, events)
		streams  = make([]string, 0, events)
		ks       = make([]int32, 0, events)
		expected = make([]int64, 0, events)
		types    = make([]string, 0, events)
		data     = make([]json.RawMessage, 0, events)
		meta     = make([]json.RawMessage, 0, events)
	)
	for _, r := range batch {
		a := r.Req
		for k := range a.ids {
			streams = append(streams, a.stream)
			ks = append(ks, int32(k+1))
			expected = append(expected, int64(a.expected))
		}
		ids = append(ids, a.rawIDs...)
		types = append(types, a.types...)
		data, meta = append(data, a.data...), append(meta, a.meta...)
	}
	b.Queue(s.sql.appendLean, ids, streams, ks, expected, types, data, meta)
}

// readLean reads the lean statement's rows into each append's outcome. An
// append without rows is left with a nil outcome: its check failed
// (leanConflicts fills it in after the commit).
func readLean(rows pgx.Rows, batch []*groupReq) ([]*groupOutcome, error) {
	at := make(map[string]int, len(batch))
	for i, r := range batch {
		at[r.Req.stream] = i
	}
	got := make([]*groupOutcome, len(batch))
	for rows.Next() {
		var (
			stream  string
			version int64
			pos     eventlog.Position
		)
		if err := rows.Scan(&stream, &version, &pos.Seq, &pos.TxID); err != nil {
			rows.Close()
			return nil, err
		}
		i, ok := at[stream]
		if !ok {
			rows.Close()
			return nil, fmt.Errorf("eventlog/postgres: append batch: a row of stream %q, which no append of the batch names", stream)
		}
		o := got[i]
		if o == nil {
			a := batch[i].Req
			o = &groupOutcome{res: eventlog.AppendResult{IDs: a.ids, Positions: make([]eventlog.Position, 0, len(a.ids))}}
			got[i] = o
		}
		o.res.Positions = append(o.res.Positions, pos)
		o.res.NextExpectedVersion = version
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, o := range got {
		if o != nil && len(o.res.Positions) != len(batch[i].Req.ids) {
			return nil, fmt.Errorf("eventlog/postgres: append batch: %d of the %d events of the append to %q written",
				len(o.res.Positions), len(batch[i].Req.ids), batch[i].Req.stream)
		}
	}
	return got, nil
}

// leanConflicts answers the appends of a committed lean batch that wrote
// nothing: each failed its expected-version check. The version reported is
// read now, after the batch's commit; a writer that committed since may
// have moved it further.
func (s *Store) leanConflicts(ctx context.Context, batch []*groupReq, got []*groupOutcome) []groupOutcome {
	var (
		failed  []int
		streams []string
	)
	for i, o := range got {
		if o == nil {
			failed = append(failed, i)
			streams = append(streams, batch[i].Req.stream)
		}
	}
	var (
		current []int64
		err     error
	)
	if len(failed) > 0 {
		var rows pgx.Rows
		rows, err = s.pool.Query(ctx, s.sql.appendCurrent, streams)
		if err == nil {
			current, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		}
		if err == nil && len(current) != len(failed) {
			err = fmt.Errorf("%d versions for %d streams", len(current), len(failed))
		}
	}
	outs := make([]groupOutcome, len(batch))
	for i, o := range got {
		if o != nil {
			outs[i] = *o
		}
	}
	for j, i := range failed {
		a := batch[i].Req
		if err != nil {
			// Still a version conflict (errors.Is), without the version.
			outs[i].err = fmt.Errorf("%w: stream %q: expected version %s; reading the current version: %w",
				eventlog.ErrWrongExpectedVersion, a.stream, a.expected, err)
			continue
		}
		outs[i].err = &eventlog.VersionConflictError{StreamID: a.stream, Expected: a.expected, Actual: current[j]}
	}
	return outs
}

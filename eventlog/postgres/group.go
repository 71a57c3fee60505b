package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/groupcommit"
)

// Group commit: concurrent Appends share transactions.
//
// A commit costs a round trip and, with durable settings, a WAL flush;
// appends from many goroutines each paying their own is what made them
// slower than plain INSERTs. The group keeps at most inFlight append
// transactions running from this store. An Append that finds none running
// starts one at once (so a lone append waits for nothing); appends arriving
// while one runs queue, and a second transaction starts beside it only once
// groupMinBatch of them wait (up to inFlight in all); a transaction done
// takes every queued append (up to maxEvents events, one per stream) in one
// transaction of two statements sent together (the lock statement, then
// the lean INSERT of appendlean.go or appendSetSQL's set statement): one
// round trip, one commit.
//
// What each append promises is kept. The batch statement checks every append
// on its own (ids, expected version) and reports each result separately, so
// one refused append does not refuse the others. If the batch statement as a
// whole fails (a constraint raced by another writer, a lost connection),
// each of its appends is run again alone, in its own transaction: one bad
// append costs the others a retry, never their result. Order in the log is
// unchanged: the batch takes every stream's lock before its first write,
// like append_events does for one stream.
type group struct {
	s *Store
	g groupcommit.Group[*pendingAppend, eventlog.AppendResult]
}

// groupReq is one Append waiting in the group.
type groupReq = groupcommit.Item[*pendingAppend, eventlog.AppendResult]

// Defaults of Config.AppendInFlight and the batch bounds.
const (
	DefaultAppendInFlight = 4
	groupMaxEvents        = 1024
	// groupMinBatch is how many appends must be waiting for a second (or
	// later) transaction to start beside one in flight; fewer wait for
	// the one in flight to finish and go with whatever queued meanwhile.
	groupMinBatch = 4
)

func newGroup(s *Store, inFlight int) *group {
	g := &group{s: s}
	g.g = groupcommit.Group[*pendingAppend, eventlog.AppendResult]{
		InFlight: inFlight, MinBatch: groupMinBatch, Pick: pickAppends, Exec: g.exec,
	}
	return g
}

// append queues a and waits for its outcome (see groupcommit.Submit).
func (g *group) append(ctx context.Context, a *pendingAppend) (eventlog.AppendResult, error) {
	return g.g.Submit(ctx, a)
}

// pickAppends takes queued appends in order, up to groupMaxEvents events
// and one append per stream (the batch statement is set-based): a second
// one of a stream waits for the next batch, and so does every later one of
// that stream, which keeps their order.
func pickAppends(queue []*groupReq) (batch, left []*groupReq) {
	var (
		events  int
		streams = make(map[string]bool, len(queue))
	)
	left = queue[:0]
	for i, r := range queue {
		if events >= groupMaxEvents || len(batch) > 0 && events+len(r.Req.ids) > groupMaxEvents {
			left = append(left, queue[i:]...)
			break
		}
		if streams[r.Req.stream] {
			left = append(left, r)
			continue
		}
		streams[r.Req.stream] = true
		batch = append(batch, r)
		events += len(r.Req.ids)
	}
	return batch, left
}

// exec runs one batch and hands each append its outcome.
func (g *group) exec(batch []*groupReq) {
	ctx, cancel := groupcommit.BatchContext(batch)
	defer cancel()
	if len(batch) == 1 && !leanBatch(batch) {
		// The lean statement is cheaper than append_events even for one
		// append; appendSet is not.
		r := batch[0]
		r.Finish(g.s.appendOwn(ctx, r.Req))
		return
	}
	outs, err := g.s.appendBatch(ctx, batch)
	if err == nil {
		// Finish hands each append to its caller: nothing of the batch
		// may be written after it.
		for i, r := range batch {
			r.Finish(outs[i].res, outs[i].err)
		}
		return
	}
	// The whole batch failed and nothing of it was written (or, if the
	// connection was lost at the commit, perhaps all of it): run each
	// append alone. After an ambiguous failure each checks its ids first,
	// so an append that did commit reports itself as a retry instead of
	// being written twice.
	var pgErr *pgconn.PgError
	ambiguous := !errors.As(err, &pgErr)
	for _, r := range batch {
		a := r.Req
		if ambiguous && !a.callerIDs {
			c := *a
			c.callerIDs = true
			a = &c
		}
		res, err := g.s.appendOwn(r.Ctx, a)
		r.Req.notified = a.notified
		r.Finish(res, err)
	}
}

type groupOutcome struct {
	res eventlog.AppendResult
	err error
}

// appendBatch runs the batch's appends in one transaction, one round trip
// (appendLocks, then appendLean or appendSet, see appendlean.go and
// appendSetSQL) and returns each one's outcome, in order. An error means the
// batch failed as a whole.
func (s *Store) appendBatch(ctx context.Context, batch []*groupReq) ([]groupOutcome, error) {
	locks := make([]int64, len(batch))
	for i, r := range batch {
		locks[i] = r.Req.lock
	}
	b := &pgx.Batch{}
	b.Queue(s.sql.appendLocks, locks)
	lean := leanBatch(batch)
	if lean {
		s.queueLean(b, batch)
	} else {
		s.queueSet(b, batch)
	}
	notify := s.carryNotify()
	if notify {
		// Its own statement in the same transaction: sent at the commit,
		// never if the batch fails.
		b.Queue(s.sql.notify, s.channel)
	}
	got, err := s.runAppendBatch(ctx, batch, b, lean)
	if notify {
		s.carried(err == nil)
		if err == nil {
			for _, r := range batch {
				r.Req.notified = true
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if lean {
		return s.leanConflicts(ctx, batch, got), nil
	}
	outs := make([]groupOutcome, len(batch))
	for i, o := range got {
		if o == nil {
			return nil, fmt.Errorf("eventlog/postgres: append batch: no result for append %d of %d", i+1, len(batch))
		}
		outs[i] = *o
	}
	return outs, nil
}

// queueSet adds appendSet (or its variant without the id lookup) for batch
// to b.
func (s *Store) queueSet(b *pgx.Batch, batch []*groupReq) {
	n, events := len(batch), 0
	for _, r := range batch {
		events += len(r.Req.ids)
	}
	var (
		streams  = make([]string, n)
		expected = make([]int64, n)
		check    = make([]bool, n)
		counts   = make([]int32, n)
		offsets  = make([]int32, n)
		apps     = make([]int32, 0, events)
		ids      = make([][16]byte, 0, events)
		types    = make([]string, 0, events)
		data     = make([]json.RawMessage, 0, events)
		meta     = make([]json.RawMessage, 0, events)
	)
	set := s.sql.appendSetNoIDs
	for i, r := range batch {
		a := r.Req
		streams[i], expected[i], check[i] = a.stream, int64(a.expected), a.callerIDs
		counts[i], offsets[i] = int32(len(a.ids)), int32(len(ids))
		for range a.ids {
			apps = append(apps, int32(i+1))
		}
		ids = append(ids, a.rawIDs...)
		types = append(types, a.types...)
		data, meta = append(data, a.data...), append(meta, a.meta...)
		if a.callerIDs {
			set = s.sql.appendSet
		}
	}
	b.Queue(set, streams, expected, check, counts, offsets, apps, ids, types, data, meta)
}

// runAppendBatch sends appendBatch's statements and reads each append's
// outcome (lean: nil for an append whose check failed).
func (s *Store) runAppendBatch(ctx context.Context, batch []*groupReq, b *pgx.Batch, lean bool) (got []*groupOutcome, err error) {
	br := s.pool.SendBatch(ctx, b)
	defer func() {
		// Only at the end of the batch (its Sync) does it commit: a failure
		// of the commit shows here.
		if cerr := br.Close(); err == nil && cerr != nil {
			got, err = nil, cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	if lean {
		return readLean(rows, batch)
	}
	return s.readSet(ctx, rows, batch)
}

// readSet reads appendSet's rows, one per append.
func (s *Store) readSet(ctx context.Context, rows pgx.Rows, batch []*groupReq) ([]*groupOutcome, error) {
	n := len(batch)
	got := make([]*groupOutcome, n)
	for rows.Next() {
		var (
			idx       int32
			code      int
			version   int64
			positions []int64
			txID      *uint64
		)
		if err := rows.Scan(&idx, &code, &version, &positions, &txID); err != nil {
			rows.Close()
			return nil, err
		}
		if idx < 1 || int(idx) > n {
			rows.Close()
			return nil, fmt.Errorf("eventlog/postgres: append batch: result for append %d of %d", idx, n)
		}
		a := batch[idx-1].Req
		res, err := s.appendResult(ctx, s.pool, a, code, version, positions, txID)
		got[idx-1] = &groupOutcome{res, err}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return got, nil
}

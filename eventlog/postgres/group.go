package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/eventlog"
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
// call of append_events_batch: one round trip, one commit.
//
// What each append promises is kept. The batch function checks every append
// on its own (ids, expected version) and reports each result separately, so
// one refused append does not refuse the others. If the batch statement as a
// whole fails (a constraint raced by another writer, a lost connection),
// each of its appends is run again alone, in its own transaction: one bad
// append costs the others a retry, never their result. Order in the log is
// unchanged: the batch takes every stream's lock before its first write,
// like append_events does for one stream.
type group struct {
	s         *Store
	inFlight  int
	maxEvents int

	mu      sync.Mutex
	queue   []*groupReq
	running int
}

// groupReq is one Append waiting in the group.
type groupReq struct {
	ctx   context.Context
	a     *pendingAppend
	done  chan groupOutcome // buffered: the runner never blocks on it
	taken bool              // under group.mu: a batch has it
}

type groupOutcome struct {
	res eventlog.AppendResult
	err error
}

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
	return &group{s: s, inFlight: inFlight, maxEvents: groupMaxEvents}
}

// append queues a and waits for its outcome. If ctx ends while a is still
// queued, a is withdrawn (nothing written); once a batch has it, the
// outcome is unknown to the caller, as with any cancelled statement.
func (g *group) append(ctx context.Context, a *pendingAppend) (eventlog.AppendResult, error) {
	r := &groupReq{ctx: ctx, a: a, done: make(chan groupOutcome, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	start := g.running == 0 || g.running < g.inFlight && len(g.queue) >= groupMinBatch
	if start {
		g.running++
	}
	g.mu.Unlock()
	if start {
		go g.run()
	}
	select {
	case o := <-r.done:
		return o.res, o.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	if !r.taken {
		for i, q := range g.queue {
			if q == r {
				g.queue = append(g.queue[:i], g.queue[i+1:]...)
				break
			}
		}
	}
	g.mu.Unlock()
	return eventlog.AppendResult{}, ctx.Err()
}

// run executes batches until the queue is empty.
func (g *group) run() {
	for {
		batch := g.take()
		if batch == nil {
			return
		}
		g.exec(batch)
	}
}

// take removes the next batch from the queue, or gives the runner's slot
// back when there is nothing to do, or too little while another runner is
// in flight: that one takes it when its batch is done, with what queued
// meanwhile (small batches side by side cost a commit each for nothing).
func (g *group) take() []*groupReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running > 1 && len(g.queue) < groupMinBatch {
		g.running--
		return nil
	}
	var (
		batch   []*groupReq
		events  int
		streams map[string]bool
		left    = g.queue[:0] // what stays queued, in order
	)
	for i, r := range g.queue {
		if events >= g.maxEvents || len(batch) > 0 && events+len(r.a.ids) > g.maxEvents {
			left = append(left, g.queue[i:]...)
			break
		}
		if r.ctx.Err() != nil {
			r.done <- groupOutcome{err: r.ctx.Err()}
			continue
		}
		// One append per stream per batch (the batch statement is
		// set-based): a second one waits for the next batch, and so
		// does every later one of that stream, which keeps their order.
		if streams[r.a.stream] {
			left = append(left, r)
			continue
		}
		if streams == nil {
			streams = make(map[string]bool, len(g.queue))
		}
		streams[r.a.stream] = true
		r.taken = true
		batch = append(batch, r)
		events += len(r.a.ids)
	}
	clear(g.queue[len(left):])
	g.queue = left
	if len(batch) == 0 {
		g.running--
		if len(g.queue) == 0 {
			g.queue = nil // drop the backing array
		}
		return nil
	}
	return batch
}

// exec runs one batch and hands each append its outcome.
func (g *group) exec(batch []*groupReq) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	if len(batch) == 1 {
		r := batch[0]
		res, err := g.s.appendOne(ctx, g.s.pool, r.a)
		r.done <- groupOutcome{res, err}
		return
	}
	outs, err := g.s.appendBatch(ctx, batch)
	if err == nil {
		for i, r := range batch {
			r.done <- outs[i]
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
		a := r.a
		if ambiguous && !a.callerIDs {
			c := *a
			c.callerIDs = true
			a = &c
		}
		res, err := g.s.appendOne(r.ctx, g.s.pool, a)
		r.done <- groupOutcome{res, err}
	}
}

// batchContext is cancelled once every caller of the batch has given up,
// so a batch nobody waits for any more does not run on.
func batchContext(batch []*groupReq) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int32
	left.Store(int32(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, r := range batch {
		stops[i] = context.AfterFunc(r.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// appendBatch runs the batch's appends in one call of append_events_batch
// (one transaction) and returns each one's outcome, in order. An error
// means the statement failed as a whole.
func (s *Store) appendBatch(ctx context.Context, batch []*groupReq) ([]groupOutcome, error) {
	n, events := len(batch), 0
	for _, r := range batch {
		events += len(r.a.ids)
	}
	var (
		streams  = make([]string, n)
		expected = make([]int64, n)
		locks    = make([]int64, n)
		check    = make([]bool, n)
		counts   = make([]int32, n)
		ids      = make([][16]byte, 0, events)
		types    = make([]string, 0, events)
		data     = make([]json.RawMessage, 0, events)
		meta     = make([]json.RawMessage, 0, events)
	)
	for i, r := range batch {
		a := r.a
		streams[i], expected[i], locks[i], check[i], counts[i] = a.stream, int64(a.expected), a.lock, a.callerIDs, int32(len(a.ids))
		ids = append(ids, a.rawIDs...)
		types = append(types, a.types...)
		data, meta = append(data, a.data...), append(meta, a.meta...)
	}
	rows, err := s.pool.Query(ctx, s.sql.appendBatch, streams, expected, locks, check, counts, ids, types, data, meta)
	if err != nil {
		return nil, err
	}
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
		a := batch[idx-1].a
		res, err := s.appendResult(ctx, s.pool, a, code, version, positions, txID)
		got[idx-1] = &groupOutcome{res, err}
	}
	// Only now is the batch committed: a failure of the commit shows here.
	if err := rows.Err(); err != nil {
		return nil, err
	}
	outs := make([]groupOutcome, n)
	for i, o := range got {
		if o == nil {
			return nil, fmt.Errorf("eventlog/postgres: append batch: no result for append %d of %d", i+1, n)
		}
		outs[i] = *o
	}
	return outs, nil
}

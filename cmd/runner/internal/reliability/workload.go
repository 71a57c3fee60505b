package reliability

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
)

// workload appends the events: writers in per-stream order with expected
// versions (some inside transactions that roll back), bursts that build a
// backlog, transactions that hold the horizon, and saga requests.
type workload struct {
	opts  Options
	log   *pgstore.Store
	pool  *pgxpool.Pool
	seed  uint64
	debug *slog.Logger

	appended    atomic.Int64 // events whose append was acknowledged
	appendErrs  atomic.Int64 // appends that failed (outages, conflicts)
	rolledBack  atomic.Int64 // events appended in transactions rolled back on purpose
	rollbacks   atomic.Int64 // such transactions
	longTxs     atomic.Int64 // transactions held open for seconds
	sagas       atomic.Int64 // saga requests acknowledged
	bursts      atomic.Int64
	poisonMu    sync.Mutex
	poisonCount map[string]int

	// The burst streams, used by backlog and then by burster only.
	burstS *streams
	burstN int64

	// gate is held shared by every append (and open long transaction);
	// pause takes it exclusively so that PostgreSQL can be crashed while
	// nothing of the workload commits.
	gate sync.RWMutex
	// quietN numbers the streams of quiet rollbacks.
	quietN atomic.Int64
	// bursting signals that a burst has begun (a backlog is building).
	bursting chan struct{}
}

func newWorkload(opts Options, log *pgstore.Store, pool *pgxpool.Pool, logger *slog.Logger) *workload {
	return &workload{opts: opts, log: log, pool: pool, seed: uint64(opts.Seed), debug: logger, poisonCount: map[string]int{},
		bursting: make(chan struct{}, 1)}
}

// rng returns the random source of one goroutine of the workload.
func (w *workload) rng(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(w.seed, stream)) }

// run appends until ctx ends.
func (w *workload) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range w.opts.Writers {
		wg.Add(1)
		go func() { defer wg.Done(); w.writer(ctx, i) }()
	}
	goRun := func(fn func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(ctx) }()
	}
	if w.opts.Burst > 0 {
		goRun(w.burster)
	}
	if w.opts.enabled(FaultLongTx) {
		goRun(w.horizonHolder)
	}
	goRun(w.sagaRequester)
	wg.Wait()
}

// streams is a set of streams one goroutine appends to, with the versions
// it believes they are at.
type streams struct {
	ids      []string
	versions map[string]int64
	dirty    map[string]bool // an append's outcome is unknown: re-read first
}

func newStreams(ids []string) *streams {
	return &streams{ids: ids, versions: map[string]int64{}, dirty: map[string]bool{}}
}

// version returns the stream's version, re-reading it when an append to it
// failed in a way that leaves its outcome unknown.
func (w *workload) version(ctx context.Context, s *streams, id string) (int64, bool) {
	if !s.dirty[id] {
		return s.versions[id], true
	}
	var v int64
	for e, err := range w.log.ReadStream(ctx, id, eventlog.ReadStreamOptions{Direction: eventlog.Backwards, Limit: 1}) {
		if err != nil {
			return 0, false
		}
		v = e.Version
	}
	s.versions[id], s.dirty[id] = v, false
	return v, true
}

// items builds n events, counting poison.
func (w *workload) items(rng *rand.Rand, n int, counter *int64, rolledBack bool) []eventlog.EventData {
	out := make([]eventlog.EventData, n)
	for i := range out {
		*counter++
		it := newItem(rng, *counter, w.opts.enabled(FaultPoison) && !rolledBack)
		it.RolledBack = rolledBack
		if it.Poison != "" {
			w.poisonMu.Lock()
			w.poisonCount[it.Poison]++
			w.poisonMu.Unlock()
		}
		e, _ := eventlog.NewEvent(itemType, it) // cannot fail: plain struct
		out[i] = e
	}
	return out
}

// append appends events to a stream at its expected version and returns
// whether it was acknowledged.
func (w *workload) append(ctx context.Context, s *streams, id string, events []eventlog.EventData) bool {
	w.gate.RLock()
	defer w.gate.RUnlock()
	v, ok := w.version(ctx, s, id)
	if !ok {
		return false
	}
	res, err := w.log.Append(ctx, id, eventlog.Exactly(v), events...)
	if err != nil {
		if ctx.Err() == nil {
			w.appendErrs.Add(1)
			w.debug.Debug("append failed", "stream", id, "err", err)
		}
		s.dirty[id] = true
		return false
	}
	s.versions[id] = res.NextExpectedVersion
	w.appended.Add(int64(len(events)))
	return true
}

// rollback appends events in a transaction and rolls it back: the
// transaction consumed an xid, and nothing of it may ever be seen.
func (w *workload) rollback(ctx context.Context, rng *rand.Rand, s *streams, id string, events []eventlog.EventData) {
	w.gate.RLock()
	defer w.gate.RUnlock()
	v, ok := w.version(ctx, s, id)
	if !ok {
		return
	}
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := w.log.AppendTx(ctx, tx, id, eventlog.Exactly(v), events...); err != nil {
		return
	}
	if rng.IntN(3) == 0 {
		_ = sleep(ctx, time.Duration(50+rng.IntN(250))*time.Millisecond)
	}
	if tx.Rollback(ctx) == nil {
		w.rollbacks.Add(1)
		w.rolledBack.Add(int64(len(events)))
	}
}

// writer appends 1–3 events at a time to its own streams at its share of
// the rate; about 3% of its appends roll back.
func (w *workload) writer(ctx context.Context, n int) {
	rng := w.rng(uint64(100 + n))
	var ids []string
	for i := n; i < w.opts.Streams; i += w.opts.Writers {
		ids = append(ids, fmt.Sprintf("%s-w%ds%04d", itemCategory, n, i))
	}
	s := newStreams(ids)
	interval := time.Duration(float64(time.Second) * 2 * float64(w.opts.Writers) / w.opts.Rate)
	next := time.Now()
	var counter int64
	for ctx.Err() == nil {
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			if sleep(ctx, d) != nil {
				return
			}
		} else if d < -time.Second {
			next = time.Now() // do not catch up on a long outage all at once
		}
		id := ids[rng.IntN(len(ids))]
		if w.opts.enabled(FaultRollback) && rng.Float64() < 0.03 {
			w.rollback(ctx, rng, s, id, w.items(rng, 1+rng.IntN(3), &counter, true))
			continue
		}
		events := w.items(rng, 1+rng.IntN(3), &counter, false)
		if !w.append(ctx, s, id, events) {
			_ = sleep(ctx, time.Duration(50+rng.IntN(200))*time.Millisecond)
		}
	}
}

// backlog appends the initial backlog, before any consumer runs.
func (w *workload) backlog(ctx context.Context) {
	if w.opts.Backlog > 0 {
		w.burst(ctx, w.rng(1), w.opts.Backlog)
	}
}

// burster appends Backlog events at once when the run starts (see
// backlog) and then bursts of Burst events every 10–25 s, 10 events per
// append, as fast as it can: consumers join and leave while catching up.
func (w *workload) burster(ctx context.Context) {
	rng := w.rng(2)
	for ctx.Err() == nil {
		if sleep(ctx, time.Duration(10+rng.IntN(16))*time.Second) != nil {
			return
		}
		w.bursts.Add(1)
		select {
		case w.bursting <- struct{}{}:
		default:
		}
		w.burst(ctx, rng, w.opts.Burst)
	}
}

// burstStreams returns the streams bursts append to.
func burstStreams() *streams {
	var ids []string
	for i := range 200 {
		ids = append(ids, fmt.Sprintf("%s-b%03d", itemCategory, i))
	}
	return newStreams(ids)
}

// burst appends n events in appends of 10 to the burst streams.
func (w *workload) burst(ctx context.Context, rng *rand.Rand, n int) {
	if w.burstS == nil {
		w.burstS = burstStreams()
	}
	s := w.burstS
	for done := 0; done < n && ctx.Err() == nil; {
		id := s.ids[rng.IntN(len(s.ids))]
		events := w.items(rng, min(10, n-done), &w.burstN, false)
		if w.append(ctx, s, id, events) {
			done += len(events)
		} else {
			_ = sleep(ctx, 100*time.Millisecond)
		}
	}
}

// horizonHolder opens a transaction every 4–10 s and keeps it open for 1–4
// s: half of them append and then commit (events committed late with an
// early xid: readers must wait for them, not skip them) or roll back; the
// others only take an xid.
func (w *workload) horizonHolder(ctx context.Context) {
	rng := w.rng(3)
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("%s-l%02d", itemCategory, i))
	}
	s := newStreams(ids)
	var counter int64
	for ctx.Err() == nil {
		if sleep(ctx, time.Duration(4000+rng.IntN(6000))*time.Millisecond) != nil {
			return
		}
		hold := time.Duration(1000+rng.IntN(3000)) * time.Millisecond
		id := ids[rng.IntN(len(ids))]
		v, ok := w.version(ctx, s, id)
		if !ok {
			continue
		}
		func() {
			w.gate.RLock()
			defer w.gate.RUnlock()
			tx, err := w.pool.Begin(ctx)
			if err != nil {
				return
			}
			defer tx.Rollback(context.WithoutCancel(ctx))
			appendIt := rng.IntN(2) == 0
			rollback := appendIt && rng.IntN(4) == 0
			events := w.items(rng, 1+rng.IntN(3), &counter, rollback)
			if appendIt {
				if _, err := w.log.AppendTx(ctx, tx, id, eventlog.Exactly(v), events...); err != nil {
					s.dirty[id] = true
					return
				}
			} else if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
				return
			}
			w.longTxs.Add(1)
			if sleep(ctx, hold) != nil {
				return
			}
			if rollback {
				if tx.Rollback(ctx) == nil {
					w.rollbacks.Add(1)
					w.rolledBack.Add(int64(len(events)))
				}
				return
			}
			if err := tx.Commit(ctx); err != nil {
				s.dirty[id] = true
				return
			}
			if appendIt {
				s.versions[id] = v + int64(len(events))
				w.appended.Add(int64(len(events)))
				w.log.Hint()
			}
		}()
	}
}

// sagaRequester appends one SagaRequested event to a new "req-N" stream
// SagaRate times a second; some inside transactions that roll back.
func (w *workload) sagaRequester(ctx context.Context) {
	rng := w.rng(4)
	interval := time.Duration(float64(time.Second) / w.opts.SagaRate)
	for n := 1; ctx.Err() == nil; n++ {
		if sleep(ctx, interval) != nil {
			return
		}
		p := newPlan(rng, w.opts.enabled(FaultPoison))
		p.RolledBack = w.opts.enabled(FaultRollback) && rng.Float64() < 0.05
		e, _ := eventlog.NewEvent(sagaType, p)
		id := fmt.Sprintf("%s-%06d", sagaCategory, n)
		w.gate.RLock()
		if p.RolledBack {
			func() {
				tx, err := w.pool.Begin(ctx)
				if err != nil {
					return
				}
				defer tx.Rollback(context.WithoutCancel(ctx))
				if _, err := w.log.AppendTx(ctx, tx, id, eventlog.NoStream, e); err == nil && tx.Rollback(ctx) == nil {
					w.rollbacks.Add(1)
					w.rolledBack.Add(1)
				}
			}()
			w.gate.RUnlock()
			continue
		}
		if _, err := w.log.Append(ctx, id, eventlog.NoStream, e); err == nil {
			w.sagas.Add(1)
		} else if ctx.Err() == nil {
			w.appendErrs.Add(1)
		}
		w.gate.RUnlock()
	}
}

// pause stops the workload from committing anything until resume: the
// appends in flight finish, the next ones wait.
func (w *workload) pause()  { w.gate.Lock() }
func (w *workload) resume() { w.gate.Unlock() }

// quietRollbacks runs n transactions at once that append and roll back,
// while the workload is paused: their ids are the newest, and nothing of
// the workload commits after them to flush their WAL. Readers that look
// now see a horizon past them; if PostgreSQL crashes before anything
// flushes, recovery hands those ids out again.
func (w *workload) quietRollbacks(ctx context.Context, n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx, err := w.pool.Begin(ctx)
			if err != nil {
				return
			}
			defer tx.Rollback(context.WithoutCancel(ctx))
			id := fmt.Sprintf("%s-q%05d", itemCategory, w.quietN.Add(1))
			e, _ := eventlog.NewEvent(itemType, item{RolledBack: true})
			if _, err := w.log.AppendTx(ctx, tx, id, eventlog.NoStream, e); err != nil {
				return
			}
			if tx.Rollback(ctx) == nil {
				w.rollbacks.Add(1)
				w.rolledBack.Add(1)
			}
		}()
	}
	wg.Wait()
}

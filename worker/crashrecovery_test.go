package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

// TestNoEventLostAcrossCrashRecovery: after a crash PostgreSQL hands out
// again the transaction ids of transactions whose WAL never reached disk.
// A transactional subscription has caught up; transactions take ids and
// roll back; the worker's reader reads past them; the postmaster is
// SIGKILLed before anything flushes the WAL, and restarted. The events
// appended next reuse those ids. The worker keeps running across the crash
// (its in-memory cursor and its checkpoints must not have moved past them):
// the read model must end equal to the log's fold, nothing lost, nothing
// out of order.
func TestNoEventLostAcrossCrashRecovery(t *testing.T) {
	cluster, e := newClusterEnv(t)
	ctx := pgtest.Context(t, 3*time.Minute)
	pool := e.pool
	// No NOTIFY: its transaction takes an id and its commit would flush the
	// WAL, making the rolled-back ids durable.
	store, err := pgstore.New(pool, pgstore.Config{Schema: e.schema, DisableNotify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	holdWALWriter(t, pool)

	log := &crashingLog{Store: store}
	cfg := worker.Config{Log: log, Checkpoints: e.cps, MemberID: "a", LeaseTTL: 30 * time.Second}
	sub := worker.NewSubscription("rm", worker.Partitions(4), worker.Mode(worker.Transactional), worker.OnAny(readModelHandler(e.schema)))
	w := startWorker(t, cfg, sub)

	appendN := func(from, n int) []eventlog.Position {
		var out []eventlog.Position
		for i := from; i < from+n; i++ {
			ev, _ := eventlog.NewEvent("Amount", amount{N: int64(i)})
			res, err := store.Append(ctx, fmt.Sprintf("acct-%d", i%7), eventlog.Any, ev)
			if err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
			out = append(out, res.Positions[0])
		}
		return out
	}
	const n = 30
	appendN(0, n)
	waitFor(t, time.Minute, "the first events handled", func() bool { return e.readModelEvents(t) == n })

	// The reader's next read: roll back transactions that took ids, read,
	// and crash before anything commits (and flushes their abort records).
	crashed := make(chan crashReport, 1)
	log.arm(func(read func() (eventlog.Batch, error)) (eventlog.Batch, error) {
		var rep crashReport
		defer func() { crashed <- rep }()
		if rep.err = rollBackIDs(ctx, pool, store, 200); rep.err != nil {
			return read()
		}
		b, err := read()
		if err != nil {
			rep.err = err
			return b, err
		}
		rep.next = b.Next
		if rep.err = pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())`).Scan(&rep.horizon); rep.err != nil {
			return b, err
		}
		rep.err = cluster.Crash()
		return b, err
	})
	var rep crashReport
	select {
	case rep = <-crashed:
	case <-time.After(time.Minute):
		t.Fatal("the worker did not read within a minute")
	}
	if rep.err != nil {
		t.Fatal(rep.err)
	}
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	pool.Reset()

	after := appendN(n, n)
	if after[0].TxID >= rep.horizon {
		t.Fatalf("scenario not reproduced: the first commit after the crash got id %d, not one below the pre-crash horizon %d", after[0].TxID, rep.horizon)
	}
	t.Logf("reader's cursor before the crash %v (horizon %d); first commit after it %v", rep.next, rep.horizon, after[0])
	// Wait for every event to be handled; an event skipped for good never
	// is, so give up after a while and let the comparison say what is
	// missing.
	for deadline := time.Now().Add(30 * time.Second); e.readModelEvents(t) < 2*n && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	w.stop(t) // in-flight batches land before the comparison
	compareModels(t, e.readModel(t), e.fold(t, eventlog.Filter{}))
	if got := e.readModelEvents(t); got != 2*n {
		t.Fatalf("read model counted %d events, want %d", got, 2*n)
	}
	if k, err := e.cps.CountDeadLetters(ctx, sub.Name()); err != nil || k != 0 {
		t.Fatalf("%d dead letters (%v)", k, err)
	}
}

type crashReport struct {
	next    eventlog.Position
	horizon uint64
	err     error
}

// crashingLog is the worker's log with a hook around one ReadBatch.
type crashingLog struct {
	*pgstore.Store
	mu   sync.Mutex
	hook func(read func() (eventlog.Batch, error)) (eventlog.Batch, error)
}

// arm makes the next ReadBatch that starts run through hook.
func (l *crashingLog) arm(hook func(read func() (eventlog.Batch, error)) (eventlog.Batch, error)) {
	l.mu.Lock()
	l.hook = hook
	l.mu.Unlock()
}

func (l *crashingLog) ReadBatch(ctx context.Context, after eventlog.Position, f eventlog.Filter, limit int) (eventlog.Batch, error) {
	l.mu.Lock()
	hook := l.hook
	l.hook = nil
	l.mu.Unlock()
	read := func() (eventlog.Batch, error) { return l.Store.ReadBatch(ctx, after, f, limit) }
	if hook == nil {
		return read()
	}
	return hook(read)
}

var _ worker.Log = (*crashingLog)(nil)

// holdWALWriter makes the WAL writer wait 10 s between rounds, so WAL that
// no commit flushed (abort records) stays in shared memory, where a crash
// loses it.
func holdWALWriter(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	if _, err := pool.Exec(ctx, `ALTER SYSTEM SET wal_writer_delay = '10s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "wal_writer_delay reloaded", func() bool {
		var v string
		return pool.QueryRow(ctx, `SHOW wal_writer_delay`).Scan(&v) == nil && v == "10s"
	})
}

// rollBackIDs runs n transactions that take an id and roll back; some
// append an event first.
func rollBackIDs(ctx context.Context, pool *pgxpool.Pool, s *pgstore.Store, n int) error {
	for i := 0; i < n; i++ {
		if i%2 == 0 && i < n-10 {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return err
			}
			ev, _ := eventlog.NewEvent("Amount", amount{N: -1})
			_, err = s.AppendTx(ctx, tx, "acct-0", eventlog.Any, ev)
			if rerr := tx.Rollback(ctx); err == nil {
				err = rerr
			}
			if err != nil {
				return err
			}
			continue
		}
		if _, err := pool.Exec(ctx, `BEGIN; SELECT pg_current_xact_id(); ROLLBACK`); err != nil {
			return err
		}
	}
	return nil
}

// TestIdlePartitionCheckpointReachesTheHead: a caught-up read's cursor is
// the last event's position (never the horizon, see above), so it no longer
// moves while nothing is appended, and the reader hands each partition a
// given mark once. A transactional partition must commit every mark it got,
// if not at once then at its next flush tick, or its checkpoint stays behind
// the head for good (phantom lag; a replay waiting for the head never ends):
// a mark that comes within FlushInterval of the last one, and a mark whose
// batch ended with a dead letter.
func TestIdlePartitionCheckpointReachesTheHead(t *testing.T) {
	setup := func(t *testing.T) (e *env, streams [2]string, appendTo func(...string) eventlog.Position, checkpoints func() [2]eventlog.Position) {
		e = newEnv(t)
		handle := readModelHandler(e.schema)
		sub := worker.NewSubscription("idle",
			worker.Partitions(2),
			worker.Mode(worker.Transactional),
			worker.Flush(0, 2*time.Second),
			worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
				if d.Event.Type == "Poison" {
					return worker.Permanent(errors.New("poison"))
				}
				return handle(ctx, d)
			}),
		)
		startWorker(t, e.config("a"), sub)
		for i := 0; streams[0] == "" || streams[1] == ""; i++ { // a stream in each partition
			s := fmt.Sprintf("acct-%d", i)
			if p := worker.PartitionOf(s, 2); streams[p] == "" {
				streams[p] = s
			}
		}
		ctx := pgtest.Context(t, time.Minute)
		// appendTo appends one event per stream in one transaction; a stream
		// named "!" + s gets a poison event.
		appendTo = func(to ...string) (last eventlog.Position) {
			err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
				for _, s := range to {
					ev, _ := eventlog.NewEvent("Amount", amount{N: 1})
					if s[0] == '!' {
						s, ev.Type = s[1:], "Poison"
					}
					res, err := e.log.AppendTx(ctx, tx, s, eventlog.Any, ev)
					if err != nil {
						return err
					}
					last = res.Positions[0]
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			e.log.Hint()
			return last
		}
		checkpoints = func() (out [2]eventlog.Position) {
			parts, err := e.cps.Partitions(ctx, sub.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range parts {
				out[p.Partition] = p.Checkpoint
			}
			return out
		}
		return e, streams, appendTo, checkpoints
	}
	atHead := func(t *testing.T, checkpoints func() [2]eventlog.Position, head eventlog.Position) {
		t.Helper()
		waitFor(t, 10*time.Second, "every checkpoint at the head", func() bool { return checkpoints() == [2]eventlog.Position{head, head} })
	}

	t.Run("mark within FlushInterval", func(t *testing.T) {
		e, streams, appendTo, checkpoints := setup(t)
		appendTo(streams[0])
		waitFor(t, 10*time.Second, "partition 0's event handled", func() bool { return e.readModelEvents(t) == 1 })
		// Partition 0 commits a mark for partition 1's event…
		p1 := appendTo(streams[1])
		waitFor(t, 10*time.Second, "partition 0 at the mark", func() bool { return checkpoints()[0] == p1 })
		// …and gets the next one well within FlushInterval.
		atHead(t, checkpoints, appendTo(streams[1]))
	})
	t.Run("mark after a dead letter", func(t *testing.T) {
		e, streams, appendTo, checkpoints := setup(t)
		// One transaction, so one read: partition 0 gets the poison event
		// and a mark past it, at partition 1's event.
		head := appendTo("!"+streams[0], streams[1])
		atHead(t, checkpoints, head)
		if n, err := e.cps.CountDeadLetters(pgtest.Context(t, time.Minute), "idle"); err != nil || n != 1 {
			t.Fatalf("%d dead letters (%v), want 1", n, err)
		}
	})
}

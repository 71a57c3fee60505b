package worker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

type beforeTxKey struct{}

// TestBeforeTx: the hook runs once per transaction, not per event, in the
// transaction the handlers write through (its SET LOCAL search_path makes
// their unqualified table names land in the test's schema), and the context
// it returns is the deliveries'. A failing hook is retried, and nothing of
// its transaction is committed.
func TestBeforeTx(t *testing.T) {
	e := newEnv(t)
	const n = 600
	appendBatches(pgtest.Context(t, time.Minute), e.log, "acct", 3, n, 50)
	var calls, failures atomic.Int64
	sub := worker.NewSubscription("rm", worker.Categories("acct"), worker.Partitions(1), worker.BatchSize(200),
		worker.BeforeTx(func(ctx context.Context, tx pgx.Tx) (context.Context, error) {
			if calls.Add(1) == 1 {
				failures.Add(1)
				return nil, errors.New("first call fails")
			}
			if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, e.schema); err != nil {
				return nil, err
			}
			return context.WithValue(ctx, beforeTxKey{}, "set"), nil
		}),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			if ctx.Value(beforeTxKey{}) != "set" {
				return worker.Permanent(errors.New("delivery without the hook's context"))
			}
			a, err := eventlog.Decode[amount](d.Event)
			if err != nil {
				return worker.Permanent(err)
			}
			// Unqualified: found through the hook's search_path only.
			_, err = d.Tx.Exec(ctx, `INSERT INTO read_model VALUES ($1, 1, $2, $3)
				ON CONFLICT (stream) DO UPDATE SET events = read_model.events + 1, total = read_model.total + $2, last_version = $3`,
				d.Event.StreamID, a.Data.N, d.Event.Version)
			return err
		}))
	startWorker(t, e.config("m1"), sub)
	waitFor(t, time.Minute, "600 events in the read model", func() bool { return e.readModelEvents(t) == n })
	if failures.Load() != 1 {
		t.Fatalf("hook failures = %d, want 1", failures.Load())
	}
	// 600 events in batches of at most 200: a handful of transactions, not
	// one hook call per event.
	if c := calls.Load(); c > n/10 {
		t.Fatalf("hook called %d times for %d events: not once per transaction", c, n)
	}
	if cnt, _ := e.cps.CountDeadLetters(pgtest.Context(t, time.Minute), "rm"); cnt != 0 {
		t.Fatalf("%d dead letters", cnt)
	}
}

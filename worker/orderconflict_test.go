package worker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

// TestAppendOrderConflictIsTransient: a handler's append that lost to a
// later writer of its stream (eventlog.ErrAppendOrderConflict, e.g.
// projection.Emit) is retried in a new transaction like a serialization
// failure: not an attempt, never a dead letter, even with one attempt.
func TestAppendOrderConflictIsTransient(t *testing.T) {
	e := newEnv(t)
	var conflicts, handled atomic.Int32
	sub := worker.NewSubscription("conflicts",
		worker.Partitions(1),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 1}),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			if conflicts.Add(1) <= 2 {
				return fmt.Errorf("emit: %w", eventlog.ErrAppendOrderConflict)
			}
			handled.Add(1)
			return nil
		}),
	)
	startWorker(t, e.config("m"), sub)
	appendAmount(t, e.log, "s-1", 1)
	waitFor(t, 20*time.Second, "the event handled after two conflicts", func() bool { return handled.Load() == 1 })
	if n, err := e.cps.CountDeadLetters(pgtest.Context(t, time.Minute), "conflicts"); err != nil || n != 0 {
		t.Fatalf("%d dead letters (%v), want none", n, err)
	}
}

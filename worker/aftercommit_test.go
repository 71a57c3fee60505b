package worker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

// TestAfterCommit: a function registered with Delivery.AfterCommit runs
// once its transaction committed — what the handler wrote is visible to
// another connection by then — and never for a transaction that rolled
// back: an event failing in the middle of a batch rolls the events before
// it back (they are handled again and committed) and fails alone (retried
// in a transaction of its own), and each event's function runs exactly
// once, for the delivery that committed.
func TestAfterCommit(t *testing.T) {
	e := newEnv(t)
	ctx := pgtest.Context(t, time.Minute)
	const n = 120
	if err := appendBatches(ctx, e.log, "acct", 1, n, 40); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		ran     = map[int64]int{} // stream version → runs
		invis   []int64           // versions whose row was not committed when fn ran
		failed  bool
		noTx    bool
		handled = map[int64]int{}
	)
	check := e.pool
	sub := worker.NewSubscription("ac", worker.Categories("acct"), worker.Partitions(1), worker.BatchSize(50),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 5, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			v := d.Event.Version
			if _, err := d.Tx.Exec(ctx, `INSERT INTO `+e.schema+`.read_model VALUES ($1, 1, 0, $2)`, d.Event.ID.String(), v); err != nil {
				return err
			}
			registered := d.AfterCommit(func() {
				var seen bool
				err := check.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM `+e.schema+`.read_model WHERE stream = $1)`,
					d.Event.ID.String()).Scan(&seen)
				mu.Lock()
				defer mu.Unlock()
				ran[v]++
				if err != nil || !seen {
					invis = append(invis, v)
				}
			})
			mu.Lock()
			defer mu.Unlock()
			noTx = noTx || !registered
			handled[v]++
			if v == 70 && !failed {
				failed = true // once: its batch rolls back, it is retried alone
				return errors.New("fails once")
			}
			return nil
		}))
	r := startWorker(t, e.config("m1"), sub)
	waitFor(t, time.Minute, "every event's function run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) == n
	})
	r.stop(t) // nothing runs after this: the counts are final
	mu.Lock()
	defer mu.Unlock()
	if noTx {
		t.Fatal("AfterCommit reported no transaction in transactional mode")
	}
	if !failed || handled[70] < 2 || handled[51] < 2 {
		t.Fatalf("the failure did not roll a batch back: handled[51]=%d handled[70]=%d", handled[51], handled[70])
	}
	for v := int64(1); v <= n; v++ {
		if ran[v] != 1 {
			t.Errorf("version %d: function ran %d times, want 1", v, ran[v])
		}
	}
	if len(invis) > 0 {
		t.Errorf("functions ran before their transaction committed: versions %v", invis)
	}
}

package worker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

// TestPostgresRestartMidRun: PostgreSQL is stopped and restarted, then
// crashed (SIGKILL) and restarted, while two workers consume and an appender
// appends. Workers reconnect and resume; the transactional read model ends
// equal to the log's fold: nothing lost, nothing applied twice.
func TestPostgresRestartMidRun(t *testing.T) {
	cluster, e := newClusterEnv(t)
	ctx := pgtest.Context(t, 5*time.Minute)

	sub := worker.NewSubscription("rm", worker.BatchSize(20), worker.OnAny(readModelHandler(e.schema)))
	var workers []*running
	for _, m := range []string{"a", "b"} {
		cfg := e.config(m)
		cfg.LeaseTTL = 5 * time.Second
		workers = append(workers, startWorker(t, cfg, sub))
	}

	const total = 6000
	var appended atomic.Int64
	appendDone := make(chan error, 1)
	go func() {
		for i := 0; i < total; {
			k := min(1+i%5, total-i)
			evs := make([]eventlog.EventData, k)
			for j := range evs {
				evs[j], _ = eventlog.NewEvent("Amount", amount{N: int64(i + j)})
				evs[j].ID = uuid.New() // fixed ids: a retried append is stored once
			}
			stream := fmt.Sprintf("acct-%d", i%97)
			for {
				_, err := e.log.Append(ctx, stream, eventlog.Any, evs...)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					appendDone <- err
					return
				}
				time.Sleep(50 * time.Millisecond) // the database is away; try again
			}
			i += k
			appended.Store(int64(i))
			if i%300 < 5 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		appendDone <- nil
	}()

	waitFor(t, time.Minute, "a third appended", func() bool { return appended.Load() >= total/3 })
	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "two thirds appended", func() bool { return appended.Load() >= 2*total/3 })
	if err := cluster.Crash(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-appendDone; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "read model caught up", func() bool {
		return e.readModelEvents(t) >= total
	})
	// Stop both workers (in-flight batches finish or roll back) so that
	// anything applied twice has landed before the comparison.
	for _, w := range workers {
		w.stop(t)
	}
	compareModels(t, e.readModel(t), e.fold(t, eventlog.Filter{}))
	if n, err := e.cps.CountDeadLetters(context.Background(), "rm"); err != nil || n != 0 {
		t.Fatalf("%d dead letters (%v)", n, err)
	}
}

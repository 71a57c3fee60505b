package worker_test

import (
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
)

// TestBatchSizeBoundsTransactions: while catching up, a partition gathers
// the reader's slices into batches, but no transaction ever carries more
// than BatchSize events, a slice split across two batches loses nothing,
// and the read model still equals the fold.
func TestBatchSizeBoundsTransactions(t *testing.T) {
	e := newEnv(t)
	const total, batchSize = 3000, 7
	appendEvents(t, e.log, "acct", 50, total)
	var (
		mu       sync.Mutex
		events   int
		biggest  int
		commits  int
		tooLarge []int
	)
	cfg := e.config("m1")
	cfg.ReadBatchSize = 64
	cfg.Hooks.Committed = func(sub string, partition int, pos eventlog.Position, n int) {
		mu.Lock()
		defer mu.Unlock()
		events += n
		biggest = max(biggest, n)
		if n > 0 {
			commits++
		}
		if n > batchSize {
			tooLarge = append(tooLarge, n)
		}
	}
	sub := worker.NewSubscription("rm", worker.Partitions(3), worker.BatchSize(batchSize), worker.OnAny(readModelHandler(e.schema)))
	startWorker(t, cfg, sub)
	waitFor(t, 60*time.Second, "every event committed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return events >= total
	})
	compareModels(t, e.readModel(t), e.fold(t, eventlog.Filter{}))
	mu.Lock()
	defer mu.Unlock()
	if len(tooLarge) > 0 {
		t.Fatalf("transactions over BatchSize %d: %v", batchSize, tooLarge[:min(len(tooLarge), 5)])
	}
	if events != total {
		t.Fatalf("%d events committed, want %d", events, total)
	}
	// Catch-up fills batches: far fewer transactions than events.
	if biggest != batchSize || commits > total/batchSize*2 {
		t.Fatalf("%d commits, biggest %d: batches were not gathered", commits, biggest)
	}
	t.Logf("%d events in %d transactions", events, commits)
}

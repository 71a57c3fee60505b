package projection_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
)

// TestReplayOnMemoryStores: Replay works through the checkpoint.Store
// interface, so a projection replays on the memory log and checkpoint
// store: the first replay builds the read model, the second resets it
// (the hook runs) and builds it again, identical.
func TestReplayOnMemoryStores(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := memory.New(memory.Options{})
	t.Cleanup(log.Close)
	cps := checkpoint.NewMemory()

	var (
		mu     sync.Mutex
		totals = map[string]float64{}
		resets int
	)
	p := projection.New("mem_totals", projection.Categories("order"), projection.Partitions(4),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[OrderPlaced]) error {
			mu.Lock()
			defer mu.Unlock()
			totals[e.Data.Customer] += e.Data.Total
			return nil
		}),
		projection.OnReset(func(ctx context.Context, tx pgx.Tx) error {
			mu.Lock()
			defer mu.Unlock()
			clear(totals)
			resets++
			return nil
		}))
	const orders = 300
	for i := range orders {
		ev, err := eventlog.NewEvent("OrderPlaced", OrderPlaced{Customer: fmt.Sprintf("c%d", i%7), Total: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(ctx, fmt.Sprintf("order-%d", i), eventlog.NoStream, ev); err != nil {
			t.Fatal(err)
		}
	}
	cfg := projection.ReplayConfig{Projection: p, Log: log, Checkpoints: cps, CatchUp: true,
		Worker: worker.Config{LeaseTTL: time.Second}}
	snapshot := func() map[string]float64 {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]float64{}
		for k, v := range totals {
			out[k] = v
		}
		return out
	}
	check := func(round int) {
		t.Helper()
		got := snapshot()
		var sum float64
		for _, v := range got {
			sum += v
		}
		if len(got) != 7 || sum != orders {
			t.Fatalf("replay %d: %d customers, %v in total; want 7 and %d: %v", round, len(got), sum, orders, got)
		}
	}
	for round := 1; round <= 2; round++ {
		res, err := projection.Replay(ctx, cfg)
		if err != nil {
			t.Fatalf("replay %d: %v", round, err)
		}
		if res.Events != orders {
			t.Fatalf("replay %d: %d events, want %d", round, res.Events, orders)
		}
		check(round)
	}
	if resets != 2 {
		t.Fatalf("reset hook ran %d times, want 2", resets)
	}
}

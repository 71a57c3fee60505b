package worker_test

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

// TestSlowHandlerKeepsMemoryFlat: 100,000 events of about 1 KiB (over
// 100 MiB of payload) behind a handler slower than the reader. The bounded
// reader batch and partition buffers must keep the heap flat: its growth
// stays under 48 MiB — less than half of what buffering the log would take.
func TestSlowHandlerKeepsMemoryFlat(t *testing.T) {
	e := newEnv(t)
	ctx := pgtest.Context(t, 5*time.Minute)
	const n = 100_000
	pad := strings.Repeat("x", 1000)
	events := func(yield func(pgstore.ImportEvent) bool) {
		for i := 0; i < n; i++ {
			ev, _ := eventlog.NewEvent("Padded", map[string]any{"n": i, "pad": pad})
			if !yield(pgstore.ImportEvent{StreamID: fmt.Sprintf("mem-%d", i%1000), EventData: ev}) {
				return
			}
		}
	}
	if _, err := e.log.Import(ctx, iter.Seq[pgstore.ImportEvent](events)); err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse

	var handled atomic.Int64
	sub := worker.NewSubscription("slow",
		worker.Mode(worker.AtLeastOnce),
		worker.Flush(1000, 0),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			if handled.Add(1)%50 == 0 {
				time.Sleep(time.Millisecond) // slower than the reader
			}
			return nil
		}),
	)
	startWorker(t, e.config("m"), sub)

	var peak uint64
	deadline := time.Now().Add(4 * time.Minute)
	for handled.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("handled only %d of %d", handled.Load(), n)
		}
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		time.Sleep(20 * time.Millisecond)
	}
	growth := int64(peak) - int64(base)
	t.Logf("heap in use: base %.1f MiB, peak %.1f MiB, growth %.1f MiB over %d events of ~1 KiB",
		mib(base), mib(peak), float64(growth)/(1<<20), n)
	if growth > 48<<20 {
		t.Fatalf("heap grew by %.1f MiB while handling; the bound is 48 MiB", float64(growth)/(1<<20))
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

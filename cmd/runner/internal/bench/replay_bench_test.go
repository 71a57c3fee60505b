package bench

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/pgtest"
)

// BenchmarkReplay: projection.Replay (CatchUp) of an upsert read model — a
// table keyed by stream with a counter and a sum, written with INSERT … ON
// CONFLICT DO UPDATE by a projection.Handle handler, emptied by OnReset —
// over a preloaded log (-bench.replay-events, default 20,000 events; the
// bench command uses 1,000,000), at 8 partitions; plain-pgx reads the same
// rows with a keyset scan and upserts them from 8 goroutines, one
// transaction per gathered batch. One op is one full replay: compare the
// events/s metric. It shares its workload with `runner bench replay`
// through this package, which also reports the replay's memory;
// docs/benchmarks.md has measured numbers. Run with
//
//	go test -run '^$' -bench Replay ./cmd/runner/internal/bench/
var benchReplayEvents = flag.Int("bench.replay-events", 20_000, "BenchmarkReplay: size of the preloaded log")

func BenchmarkReplay(b *testing.B) {
	ctx, env := ForBenchmark(b, pgtest.URL(b), 30*time.Minute)
	w, err := NewReplayWorkload(ctx, env, Options{Events: *benchReplayEvents})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Close)
	run := func(b *testing.B, reset func(context.Context) error, op func(context.Context) (int64, error)) {
		var events int64
		for b.Loop() {
			if reset != nil {
				b.StopTimer()
				if err := reset(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			n, err := op(ctx)
			if err != nil {
				b.Fatal(err)
			}
			events += n
		}
		b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	}
	// Replay resets the read model itself (OnReset), inside the timed call.
	b.Run("ours", func(b *testing.B) { run(b, nil, w.Ours) })
	b.Run("plain-pgx", func(b *testing.B) { run(b, w.ResetPlain, w.Plain) })
}

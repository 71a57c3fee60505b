package bench

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/pgtest"
)

// BenchmarkRebuild: the rebuild scenario's two arms — the read model
// rebuilt into a fresh schema by RebuildWorkload.Ours (today
// projection.Replay with CatchUp of a new projection) and by plain pgx —
// over a preloaded log (-bench.rebuild-events, default 20,000; the bench
// command uses 1,000,000), without the live reader. One op is one full
// rebuild: compare the events/s metric. Its use is profiling one arm:
//
//	go test -run '^$' -bench 'Rebuild/ours' -cpuprofile cpu.out ./cmd/runner/internal/bench/
var benchRebuildEvents = flag.Int("bench.rebuild-events", 20_000, "BenchmarkRebuild: size of the preloaded log")

func BenchmarkRebuild(b *testing.B) {
	ctx, env := ForBenchmark(b, pgtest.URL(b), 30*time.Minute)
	w, err := NewRebuildWorkload(ctx, env, Options{Events: *benchRebuildEvents})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Close)
	run := func(b *testing.B, arm func(context.Context) (rebuildTarget, int64, error)) {
		var events int64
		for b.Loop() {
			t, n, err := arm(ctx)
			b.StopTimer()
			if ferr := w.Finish(ctx, t, err == nil); err == nil {
				err = ferr
			}
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			events += n
		}
		b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("ours", func(b *testing.B) { run(b, w.Ours) })
	b.Run("plain-pgx", func(b *testing.B) { run(b, w.Plain) })
}

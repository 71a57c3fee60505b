package bench

import (
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/pgtest"
)

// Benchmarks of the worker, each beside plain pgx doing the same I/O
// against the same server in the same run; they share their workloads with
// `runner bench worker-catchup worker-upsert` through this
// package (whose doc explains the method). Run them with
//
//	go test -run '^$' -bench Worker ./cmd/runner/internal/bench/
//
// against pgtest's embedded cluster (fsync, synchronous_commit and
// full_page_writes off) unless DATABASE_URL names another server. One op
// is one catch-up of the whole preloaded log (-bench.worker-events, default
// 20,000 events; the bench command uses 1,000,000 and 200,000), so compare
// the events/s metric; the worker's stop after each catch-up is not timed.
// docs/benchmarks.md has measured numbers, taken with the bench command,
// which repeats and alternates the runs.

var benchWorkerEvents = flag.Int("bench.worker-events", 20_000, "worker benchmarks: size of the preloaded log")

// benchEnv connects the bench package to the test server.
func benchEnv(b *testing.B) *Env {
	b.Helper()
	_, env := ForBenchmark(b, pgtest.URL(b), time.Minute)
	return env
}

// reportRate reports events per second over the timed part of the op loop.
func reportRate(b *testing.B, events int64) {
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWorkerCatchUp: a subscription with a no-op handler in
// transactional mode catching up with a preloaded log, at 1 and 8
// partitions, timed until every partition's checkpoint reached the head;
// plain-pgx reads the same rows with a keyset scan.
func BenchmarkWorkerCatchUp(b *testing.B) {
	ctx := pgtest.Context(b, 30*time.Minute)
	w, err := NewWorkerCatchUpWorkload(ctx, benchEnv(b), Options{Events: *benchWorkerEvents})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Close)
	if _, err := w.Plain(ctx); err != nil { // warm the cache
		b.Fatal(err)
	}
	for _, parts := range []int{1, 8} {
		b.Run(fmt.Sprintf("p%d", parts), func(b *testing.B) {
			b.Run("ours", func(b *testing.B) {
				var events int64
				for b.Loop() {
					r, err := w.Start(ctx, parts)
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					r.Stop()
					events += r.Events
					b.StartTimer()
				}
				reportRate(b, events)
			})
			b.Run("plain-pgx", func(b *testing.B) {
				var events int64
				for b.Loop() {
					n, err := w.Plain(ctx)
					if err != nil {
						b.Fatal(err)
					}
					events += n
				}
				reportRate(b, events)
			})
		})
	}
}

// BenchmarkWorkerUpsert: a subscription at 8 partitions whose handler
// upserts each event into a read model through Delivery.Tx, catching up with
// a preloaded log; plain-pgx reads the same rows with a keyset scan and
// upserts them from 8 goroutines, one transaction per gathered batch.
func BenchmarkWorkerUpsert(b *testing.B) {
	ctx := pgtest.Context(b, 30*time.Minute)
	w, err := NewWorkerUpsertWorkload(ctx, benchEnv(b), Options{Events: *benchWorkerEvents})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Close)
	run := func(b *testing.B, op func() (int64, error)) {
		var events int64
		for b.Loop() {
			b.StopTimer()
			if err := w.Reset(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			n, err := op()
			if err != nil {
				b.Fatal(err)
			}
			events += n
		}
		reportRate(b, events)
	}
	b.Run("ours", func(b *testing.B) {
		run(b, func() (int64, error) {
			r, err := w.Start(ctx)
			if err != nil {
				return 0, err
			}
			b.StopTimer()
			r.Stop()
			b.StartTimer()
			return r.Events, nil
		})
	})
	b.Run("plain-pgx", func(b *testing.B) {
		run(b, func() (int64, error) { return w.Plain(ctx) })
	})
}

package bench

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
)

// Benchmarks of the event log, each beside plain pgx doing the same I/O
// against the same server in the same run; they share their workloads with
// `runner bench` (this package's doc explains the methodology). They live
// here, not in eventlog/postgres, so that the library's tests never import
// the harness. Run them with
//
//	go test -run '^$' -bench 'Append|Import|CatchUp' ./cmd/runner/internal/bench/
//
// They run against the test server: pgtest's embedded cluster — fsync,
// synchronous_commit and full_page_writes off — unless DATABASE_URL names
// another; the output states the settings in configuration lines
// (postgres-fsync: … beside goos: and cpu:). ns/op is per event
// except in BenchmarkAppendBatch100 (per append) and
// BenchmarkAppendToReaderLatency (set by the append rate). docs/benchmarks.md
// has measured numbers, taken with the bench command, which repeats and
// alternates the runs.

var benchCatchUpEvents = flag.Int("bench.catchup-events", 100_000, "BenchmarkCatchUp: size of the preloaded log")

var logSettings sync.Once

// testCtx bounds a benchmark's database work.
func testCtx(b *testing.B) context.Context { return pgtest.Context(b, 3*time.Minute) }

// benchFixture returns a fixture on a fresh migrated schema, with a pool of
// maxConns connections and a store configured by cfg.
func benchFixture(b *testing.B, cfg postgres.Config, maxConns int32) *Fixture {
	b.Helper()
	schema, _ := pgtest.NewMigratedSchema(b)
	fx, err := OpenFixture(testCtx(b), pgtest.URL(b), schema, FixtureOptions{MaxConns: maxConns, Store: cfg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fx.Close) // before NewSchema's cleanup drops the schema
	logSettings.Do(func() {
		var version, fsync, syncCommit, fpw string
		err := fx.Pool.QueryRow(testCtx(b), `SELECT current_setting('server_version'), current_setting('fsync'),
			current_setting('synchronous_commit'), current_setting('full_page_writes')`).Scan(&version, &fsync, &syncCommit, &fpw)
		if err != nil {
			b.Fatal(err)
		}
		// Configuration lines in the benchmark format, like goos: and cpu:.
		fmt.Printf("postgres: %s\npostgres-fsync: %s\npostgres-synchronous-commit: %s\npostgres-full-page-writes: %s\n", version, fsync, syncCommit, fpw)
	})
	return fx
}

// measure times f(b.N) and reports events per second, n events per op.
func measure(b *testing.B, perOp int, f func(ctx context.Context, n int) error) {
	b.Helper()
	ctx := testCtx(b)
	b.ResetTimer()
	if err := f(ctx, b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppend: single-event appends from 16 goroutines over 10,000
// streams partitioned among them; plain-pgx does single-row autocommit
// INSERTs into an equivalent table (see PlainTableDDL).
func BenchmarkAppend(b *testing.B) {
	fx := benchFixture(b, postgres.Config{}, 20)
	w := NewAppendWorkload(fx, Options{})
	warm := Defaults(ScenarioAppend).Warmup
	if err := w.Ours(testCtx(b), warm); err != nil {
		b.Fatal(err)
	}
	if err := w.Plain(testCtx(b), warm); err != nil {
		b.Fatal(err)
	}
	b.Run("ours", func(b *testing.B) { measure(b, 1, w.Ours) })
	b.Run("plain-pgx", func(b *testing.B) { measure(b, 1, w.Plain) })
}

// BenchmarkAppendBatch100: appends of 100 events to a new stream each from
// 4 goroutines; plain-pgx writes the same 100 rows in one commit three
// ways (the fastest is the ceiling).
func BenchmarkAppendBatch100(b *testing.B) {
	fx := benchFixture(b, postgres.Config{}, 8)
	w := NewBatchWorkload(fx, Options{BatchSize: 100})
	ctx := testCtx(b)
	if err := w.Ours(ctx, 20); err != nil {
		b.Fatal(err)
	}
	for _, m := range PlainBatchMethods {
		if err := w.Plain(ctx, m, 20); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("ours", func(b *testing.B) { measure(b, w.Size(), w.Ours) })
	b.Run("plain-pgx", func(b *testing.B) {
		for _, m := range PlainBatchMethods {
			b.Run(m, func(b *testing.B) {
				measure(b, w.Size(), func(ctx context.Context, n int) error { return w.Plain(ctx, m, n) })
			})
		}
	})
}

// BenchmarkImport: Store.Import (COPY in a transaction) of b.N events in
// new streams of 10 against pgx CopyFrom of the same rows.
func BenchmarkImport(b *testing.B) {
	fx := benchFixture(b, postgres.Config{}, 4)
	w := NewImportWorkload(fx, Options{})
	b.Run("ours", func(b *testing.B) {
		events := w.PrepareOurs(b.N)
		measure(b, 1, func(ctx context.Context, _ int) error { return w.Ours(ctx, events) })
	})
	b.Run("plain-pgx", func(b *testing.B) {
		rows := w.PreparePlain(b.N)
		measure(b, 1, func(ctx context.Context, _ int) error { return w.Plain(ctx, rows) })
	})
}

// BenchmarkCatchUp: reading a preloaded log (-bench.catchup-events, default
// 100,000) from the start in batches of 1000 — Store.ReadBatch against a
// plain keyset scan of the same table. b.N events are read, starting over
// at the start of the log when needed.
func BenchmarkCatchUp(b *testing.B) {
	fx := benchFixture(b, postgres.Config{}, 4)
	w := NewCatchUpWorkload(fx, Options{})
	ctx := testCtx(b)
	if err := w.Preload(ctx, *benchCatchUpEvents); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Plain(ctx, *benchCatchUpEvents); err != nil { // warm the cache for both
		b.Fatal(err)
	}
	read := func(f func(context.Context, int) (int64, error)) func(context.Context, int) error {
		return func(ctx context.Context, n int) error { _, err := f(ctx, n); return err }
	}
	b.Run("ours", func(b *testing.B) { measure(b, 1, read(w.Ours)) })
	b.Run("plain-pgx", func(b *testing.B) { measure(b, 1, read(w.Plain)) })
}

// BenchmarkAppendToReaderLatency: a reader in another process (this test
// binary re-executed) follows the log while this one appends b.N events at
// 200/s after 100 unmeasured ones; ours with notifications, ours polling
// only, and a plain-pgx reader polling the baseline table every 1 ms. It
// reports the latency percentiles; use e.g. -benchtime 2000x for the
// bench command's 2,000 events.
func BenchmarkAppendToReaderLatency(b *testing.B) {
	run := func(b *testing.B, mode string, cfg postgres.Config) {
		fx := benchFixture(b, cfg, 4)
		o := LatencyOptionsFrom(Options{Events: b.N, Warmup: 100})
		o.OnMeasureStart, o.OnMeasureStop = b.ResetTimer, b.StopTimer
		r, err := MeasureLatency(testCtx(b), fx, mode, o)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(Percentile(r.Latencies, 50))/float64(time.Millisecond), "p50-ms")
		b.ReportMetric(float64(Percentile(r.Latencies, 99))/float64(time.Millisecond), "p99-ms")
		b.ReportMetric(r.Rate(), "events/s")
	}
	b.Run("ours", func(b *testing.B) { run(b, ModeNotify, postgres.Config{}) })
	b.Run("ours-polling", func(b *testing.B) { run(b, ModePoll, postgres.Config{DisableNotify: true}) })
	b.Run("plain-pgx", func(b *testing.B) { run(b, ModePlain, postgres.Config{DisableNotify: true}) })
}

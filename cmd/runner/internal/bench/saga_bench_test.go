package bench

import (
	"flag"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/pgtest"
)

// BenchmarkSaga: a 3-step saga with no-op steps (SagaDefinition)
// driven end to end — saga.Subscription in a worker and a saga.Executor —
// over a backlog of start events imported before the clock
// (-bench.sagas, default 1,000; the bench command uses 5,000). One op is
// one backlog, on a fresh schema, run until every instance completed; it
// reports sagas/s and the step duration percentiles from saga.Hooks.Step.
// There is no plain-pgx sub-benchmark: no plain program does this work
// without re-implementing the saga store (see docs/benchmarks.md, which
// also has measured numbers, taken with `runner bench saga`). Run with
//
//	go test -run '^$' -bench Saga ./cmd/runner/internal/bench/
var benchSagas = flag.Int("bench.sagas", 1_000, "BenchmarkSaga: start events per op")

func BenchmarkSaga(b *testing.B) {
	ctx, env := ForBenchmark(b, pgtest.URL(b), 30*time.Minute)
	var (
		sagas int64
		steps []time.Duration
	)
	for b.Loop() {
		b.StopTimer()
		backlog, err := NewSagaBacklog(ctx, env, Options{Events: *benchSagas})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n, err := backlog.Run(ctx)
		b.StopTimer()
		steps = append(steps, backlog.StepDurations()...)
		backlog.Close()
		if err != nil {
			b.Fatal(err)
		}
		sagas += n
		b.StartTimer()
	}
	b.ReportMetric(float64(sagas)/b.Elapsed().Seconds(), "sagas/s")
	b.ReportMetric(float64(Percentile(steps, 50))/float64(time.Millisecond), "step-p50-ms")
	b.ReportMetric(float64(Percentile(steps, 99))/float64(time.Millisecond), "step-p99-ms")
}

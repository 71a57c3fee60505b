package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
)

// DefaultParkedSagas is how many parked sagas the saga-parked run keeps
// waiting beside the measured ones.
const DefaultParkedSagas = 100_000

// sagaVariant is what the benchmark saga's steps do.
type sagaVariant int

const (
	sagaNoop   sagaVariant = iota // no-op steps
	sagaInsert                    // one INSERT per step, idempotent by the step's key
)

// sagaInsertDefinition is SagaDefinition with steps that each insert a row
// keyed by the step's idempotency key into table (autocommit, on pool): a
// step that runs again inserts nothing more.
func sagaInsertDefinition(pool *pgxpool.Pool, table string) *saga.Definition[sagaState] {
	insert := func(ctx context.Context, sc *saga.StepContext[sagaState]) error {
		_, err := pool.Exec(ctx, `INSERT INTO `+table+` (key) VALUES ($1) ON CONFLICT DO NOTHING`, sc.IdempotencyKey)
		return err
	}
	return saga.New[sagaState](SagaType,
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[sagaStart]) (saga.Start[sagaState], error) {
			return saga.Start[sagaState]{CorrelationID: e.Data.OrderID, State: sagaState{Order: e.Data.OrderID, Total: e.Data.TotalCents}}, nil
		}),
		saga.Step("reserve", insert),
		saga.Step("charge", insert),
		saga.Step("ship", insert),
	)
}

// The parked sagas: started by a type nothing appends in the benchmark, and
// waiting for another that never comes (their rows are written directly).
const (
	parkedSagaType  = "bench_parked"
	parkedWaitEvent = "BenchNeverConfirmed"
)

type parkedStart struct {
	ID string `json:"id"`
}

func (parkedStart) EventType() string { return "BenchParkedStarted" }

type parkedWake struct {
	ID string `json:"id"`
}

func (parkedWake) EventType() string { return parkedWaitEvent }

func parkedDefinition() *saga.Definition[sagaState] {
	return saga.New[sagaState](parkedSagaType,
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[parkedStart]) (saga.Start[sagaState], error) {
			return saga.Start[sagaState]{CorrelationID: e.Data.ID}, nil
		}),
		saga.WaitFor("confirmed", func(ctx context.Context, e eventlog.Envelope[parkedWake]) (string, error) { return e.Data.ID, nil },
			saga.Timeout(24*time.Hour)),
	)
}

// newSagaVariant creates a workload whose saga does what v says, with
// parked sagas (waiting a day for an event that never comes) already
// stored, vacuumed and analyzed.
func newSagaVariant(ctx context.Context, env *Env, opts Options, v sagaVariant, parked int) (*SagaWorkload, error) {
	s, err := NewSagaWorkload(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	if v == sagaInsert {
		table := pgx.Identifier{s.fx.Schema, "saga_step_rows"}.Sanitize()
		if _, err := s.fx.Pool.Exec(ctx, `CREATE TABLE `+table+` (key text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`); err != nil {
			s.Close()
			return nil, fmt.Errorf("bench: saga step table: %w", err)
		}
		s.def = sagaInsertDefinition(s.fx.Pool, table)
	}
	s.extra = []saga.Saga{parkedDefinition()}
	if parked > 0 {
		sagas := pgx.Identifier{s.fx.Schema, "sagas"}.Sanitize()
		if _, err := s.fx.Pool.Exec(ctx, `INSERT INTO `+sagas+` (id, saga_type, correlation_id, state, status, step,
				next_attempt_at, wait_deadline, wait_event, started_by)
			SELECT gen_random_uuid(), $1, 'parked-' || g, '{}', 'waiting', 0, now() + interval '1 day', now() + interval '1 day', $2, gen_random_uuid()
			  FROM generate_series(1, $3) g`, parkedSagaType, parkedWaitEvent, parked); err != nil {
			s.Close()
			return nil, fmt.Errorf("bench: parked sagas: %w", err)
		}
		if _, err := s.fx.Pool.Exec(ctx, `VACUUM (ANALYZE) `+sagas); err != nil {
			s.Close()
			return nil, fmt.Errorf("bench: vacuum sagas: %w", err)
		}
	}
	// Every variant starts its clock after a checkpoint: else the parked
	// run paid, inside its clock, for writing out the pages its untimed
	// set-up dirtied (100,000 rows and their indexes), which the other
	// runs do not have, and measured that rather than the parked sagas.
	if _, err := s.fx.Pool.Exec(ctx, `CHECKPOINT`); err != nil {
		s.Close()
		return nil, fmt.Errorf("bench: checkpoint: %w", err)
	}
	return s, nil
}

// sagaInClock is one repetition of a saga throughput run: the saga's
// subscription and executor start, then Options.Events start events are
// appended (single-event appends from appenders goroutines, one stream
// each) while they run; the clock covers the appends and stops when every
// saga completed.
type sagaInClock struct {
	s         *SagaWorkload
	probe     *sagaProbe
	n         int64
	appenders int
}

func (r *sagaInClock) run(ctx context.Context) (int64, error) {
	if err := r.s.Start(r.probe); err != nil {
		return 0, err
	}
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		appErr  error
	)
	for range r.appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= r.n {
					return
				}
				if _, err := r.s.fx.Store.Append(ctx, "order-"+strconv.FormatInt(i, 10), eventlog.NoStream, r.s.startEvent(i, 0)); err != nil {
					errOnce.Do(func() { appErr = fmt.Errorf("bench: saga start append: %w", err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	if appErr != nil {
		return 0, appErr
	}
	err := r.s.wait(ctx, r.probe)
	return r.probe.completed.Load(), err
}

// sagaStartAppenders is how many goroutines append the start events.
const sagaStartAppenders = 16

// Saga measures a 3-step saga driven end to end (saga.Subscription in a
// worker and a saga.Executor), its start events appended inside the clock:
// saga (no-op steps), saga-insert (one INSERT per step), saga-parked (no-op
// steps beside Options.Parked sagas parked at a wait step, against the
// no-op run: the ratio must stay >= 0.9), the three alternating, medians
// of the repetitions; then saga-latency, start events appended at
// Options.Rate, end to end from append to completion.
func Saga(ctx context.Context, env *Env, opts Options) ([]Result, error) {
	opts = opts.withDefaults(ScenarioSaga)
	parked := opts.Parked
	if parked == 0 {
		parked = DefaultParkedSagas
	}
	// The start events come from as many goroutines as the append
	// scenario's (16), whatever the executor's concurrency: more appenders
	// would batch the starts' appends better and flatter the saga figure.
	appenders := sagaStartAppenders
	type variant struct {
		name   string
		v      sagaVariant
		parked int
	}
	variants := []variant{{"noop", sagaNoop, 0}, {"insert", sagaInsert, 0}, {"parked", sagaNoop, parked}}
	var (
		cur     *sagaInClock
		prepErr error
		probes  = make([][]*sagaProbe, len(variants))
		stats   = &statementStats{env: env}
	)
	defer func() {
		if cur != nil {
			cur.s.Close()
		}
	}()
	sides := make([]side, len(variants))
	for i, v := range variants {
		sides[i] = side{
			name: v.name,
			// A fresh schema per attempt, its parked sagas stored, untimed.
			prep: func(int) {
				var s *SagaWorkload
				s, prepErr = newSagaVariant(ctx, env, opts, v.v, v.parked)
				if prepErr == nil {
					cur = &sagaInClock{s: s, probe: newSagaProbe(int64(opts.Events)), n: int64(opts.Events), appenders: appenders}
				}
				stats.reset(ctx)
			},
			run: func(ctx context.Context, _ int) (int64, error) {
				if prepErr != nil {
					return 0, prepErr
				}
				return cur.run(ctx)
			},
			post: func(int) error {
				if cur != nil {
					stats.log(ctx, ScenarioSaga+"-"+v.name, cur.probe.completed.Load())
					cur.s.Close()
					probes[i] = append(probes[i], cur.probe)
					cur = nil
				}
				return nil
			},
		}
	}
	runs, err := alternate(ctx, env, ScenarioSaga, opts.Repetitions, sides...)
	if err != nil {
		return nil, err
	}
	shape := fmt.Sprintf("executor Concurrency %d; subscription %d partitions, BatchSize %d; %d start events of %d bytes, "+
		"each a single-event Store.Append to a stream of its own from %d goroutines inside the clock, while the saga runs; "+
		"one pool of %d connections (executor concurrency + partitions + 8) for the store, the steps and the appends",
		opts.Concurrency, opts.Partitions, opts.BatchSize, opts.Events, opts.DataSize, appenders, opts.Concurrency+opts.Partitions+8)
	noop := summarize(ScenarioSaga, runs[0], "\"events\" are sagas: 3 no-op steps; "+shape)
	noop = withSagaLatencies(noop, mergeProbes(probes[0]))
	noop.Notes += "; goal >= 1,500 sagas/s: " + verdict(noop.EventsPerS >= 1500)
	ins := summarize(ScenarioSaga+"-insert", runs[1], "\"events\" are sagas: 3 steps, each one INSERT ... ON CONFLICT DO NOTHING "+
		"keyed by the step's idempotency key, autocommit on the fixture's pool; "+shape)
	ins = withSagaLatencies(ins, mergeProbes(probes[1]))
	ins.Notes += "; goal >= 1,000 sagas/s: " + verdict(ins.EventsPerS >= 1000)
	park := summarize(ScenarioSaga+"-parked", runs[2], fmt.Sprintf("\"events\" are sagas: the no-op saga beside %d sagas parked at a wait step "+
		"(waiting a day, run by the same executor), against the no-op run without them (the baseline); %s", parked, shape))
	park = withSagaLatencies(park, mergeProbes(probes[2]))
	base := noop
	park.Baseline = &base
	if noop.EventsPerS > 0 {
		park.Ratio = round(park.EventsPerS/noop.EventsPerS, 3)
	}
	park.Notes += fmt.Sprintf("; goal: throughput with %d parked >= 0.9 of without: %s", parked, verdict(park.Ratio >= 0.9))

	lat, err := sagaLatency(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	lat.Notes += "; goal e2e p99 < 20 ms: " + verdict(lat.P99Ms < 20)
	return []Result{noop, ins, park, lat}, nil
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

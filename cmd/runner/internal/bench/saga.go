package bench

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/benchcpu"
	"github.com/causewayhq/causeway/saga"
	sagapg "github.com/causewayhq/causeway/saga/postgres"
	"github.com/causewayhq/causeway/worker"
)

// SagaType is the benchmark saga's type name.
const SagaType = "bench_order"

// sagaStart is what the benchmark saga reads from its start event.
type sagaStart struct {
	OrderID    string `json:"order_id"`
	TotalCents int64  `json:"total_cents"`
}

func (sagaStart) EventType() string { return EventType }

// sagaState is the benchmark saga's state.
type sagaState struct {
	Order string `json:"order"`
	Total int64  `json:"total"`
}

// SagaDefinition is the benchmark saga: started by OrderPlaced (one
// instance per order id), three steps — reserve, charge, ship — whose
// actions do nothing.
func SagaDefinition() *saga.Definition[sagaState] {
	noop := func(context.Context, *saga.StepContext[sagaState]) error { return nil }
	return saga.New[sagaState](SagaType,
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[sagaStart]) (saga.Start[sagaState], error) {
			return saga.Start[sagaState]{CorrelationID: e.Data.OrderID, State: sagaState{Order: e.Data.OrderID, Total: e.Data.TotalCents}}, nil
		}),
		saga.Step("reserve", noop),
		saga.Step("charge", noop),
		saga.Step("ship", noop),
	)
}

// sagaProbe observes a saga run through the worker's and the executor's
// hooks: step durations, the time between an instance's transitions, and
// completions.
type sagaProbe struct {
	want      int64
	completed atomic.Int64
	done      chan struct{}
	// onComplete, if set, gets each completed instance's correlation id;
	// onFirst each instance's when its first step is recorded.
	onComplete func(corr string, at time.Time)
	onFirst    func(corr string, at time.Time)

	mu    sync.Mutex
	steps []time.Duration         // Hooks.Step durations
	gaps  []time.Duration         // between consecutive transitions of an instance
	prev  map[uuid.UUID]time.Time // last transition of each running instance
	first map[uuid.UUID]time.Time // when each instance's first step was recorded
	total []time.Duration         // first to last transition of completed instances
	errs  atomic.Int64
}

func newSagaProbe(want int64) *sagaProbe {
	return &sagaProbe{want: want, done: make(chan struct{}), prev: map[uuid.UUID]time.Time{}, first: map[uuid.UUID]time.Time{},
		steps: make([]time.Duration, 0, 3*want), gaps: make([]time.Duration, 0, 2*want)}
}

func (p *sagaProbe) hooks() saga.Hooks {
	return saga.Hooks{
		Step: func(_, _ string, _ saga.Phase, took time.Duration, err error) {
			if err != nil {
				p.errs.Add(1)
			}
			p.mu.Lock()
			p.steps = append(p.steps, took)
			p.mu.Unlock()
		},
		Transition: func(_, after saga.Instance, _ saga.HistoryEntry) {
			now := time.Now()
			p.mu.Lock()
			if t, ok := p.prev[after.ID]; ok {
				p.gaps = append(p.gaps, now.Sub(t))
			} else {
				p.first[after.ID] = now
				if p.onFirst != nil {
					p.onFirst(after.CorrelationID, now)
				}
			}
			if after.Status == saga.StatusCompleted {
				p.total = append(p.total, now.Sub(p.first[after.ID]))
				delete(p.prev, after.ID)
				delete(p.first, after.ID)
			} else {
				p.prev[after.ID] = now
			}
			p.mu.Unlock()
			if after.Status.Terminal() {
				if p.onComplete != nil {
					p.onComplete(after.CorrelationID, now)
				}
				if p.completed.Add(1) == p.want {
					close(p.done)
				}
			}
		},
	}
}

// SagaWorkload runs the benchmark saga on a fixture: its subscription in a
// worker and an executor.
type SagaWorkload struct {
	fx          *Fixture
	env         *Env
	store       *sagapg.Store
	def         *saga.Definition[sagaState]
	extra       []saga.Saga // run by the executor too (the parked sagas' type)
	partitions  int
	batch       int
	concurrency int
	dataSize    int
	handOff     bool
	ring        payloadRing

	w      *runningWorker
	xStop  context.CancelFunc
	xEnded chan struct{}
	xErr   error
}

// NewSagaWorkload creates a fresh fixture for the saga. Close drops it.
func NewSagaWorkload(ctx context.Context, env *Env, opts Options) (*SagaWorkload, error) {
	opts = opts.withDefaults(ScenarioSaga)
	fx, err := env.NewFixture(ctx, ScenarioSaga, FixtureOptions{MaxConns: int32(opts.Concurrency + opts.Partitions + 8)})
	if err != nil {
		return nil, err
	}
	var storeOpts []sagapg.Option
	if opts.RecordInFlight != 0 {
		storeOpts = append(storeOpts, sagapg.RecordInFlight(opts.RecordInFlight))
	}
	store, err := sagapg.New(fx.Store, storeOpts...)
	if err != nil {
		fx.Close()
		return nil, err
	}
	return &SagaWorkload{fx: fx, env: env, store: store, def: SagaDefinition(), partitions: opts.Partitions, batch: opts.BatchSize,
		concurrency: opts.Concurrency, dataSize: opts.DataSize, handOff: !opts.NoHandOff}, nil
}

// Close stops what runs and drops the fixture.
func (s *SagaWorkload) Close() {
	s.Stop()
	s.fx.Close()
}

// startEvent is the start event of saga n (order id ord-<10,000,000+n>).
func (s *SagaWorkload) startEvent(n int64, sentNs int64) eventlog.EventData {
	return eventlog.EventData{Type: EventType, Data: OrderJSON(n, sentNs, s.dataSize)}
}

// CorrelationID is saga n's correlation id.
func sagaCorrelation(n int64) string { return "ord-" + strconv.FormatInt(10_000_000+n, 10) }

// Preload imports start events for sagas [from, from+n), each in a stream
// of its own, before the saga runs.
func (s *SagaWorkload) Preload(ctx context.Context, from, n int64) error {
	events := func(yield func(postgres.ImportEvent) bool) {
		for i := from; i < from+n; i++ {
			if !yield(postgres.ImportEvent{StreamID: "order-" + strconv.FormatInt(i, 10), EventData: s.startEvent(i, 0)}) {
				return
			}
		}
	}
	_, err := s.fx.Store.Import(ctx, iter.Seq[postgres.ImportEvent](events))
	if err == nil {
		err = s.fx.vacuum(ctx)
	}
	return err
}

// Start runs the saga's subscription (saga.Subscription in a worker, which
// wakes the executor after each commit that carried events, as the
// runtime does) and a saga.Executor with the probe's hooks.
func (s *SagaWorkload) Start(p *sagaProbe) error {
	x, err := saga.NewExecutor(saga.ExecutorConfig{Store: s.store, Log: s.fx.Store, Concurrency: s.concurrency,
		Logger: warnLogger(s.env.Logger), Hooks: p.hooks()}, append([]saga.Saga{s.def}, s.extra...)...)
	if err != nil {
		return err
	}
	// As the runtime does: the subscription hands new instances to the
	// executor and wakes it (or, without the hand-off, every commit that
	// carried events wakes it, to claim).
	var subOpts []saga.SubscriptionOption
	hooks := worker.Hooks{}
	if s.handOff {
		subOpts = append(subOpts, saga.HandOff(x))
	} else {
		hooks.Committed = func(_ string, _ int, _ eventlog.Position, n int) {
			if n > 0 {
				x.Wake()
			}
		}
	}
	sub, err := saga.Subscription(s.store, s.def, subOpts...)
	if err != nil {
		return err
	}
	sub = sub.With(worker.Partitions(s.partitions), worker.BatchSize(s.batch))
	cps, err := checkpoint.NewPostgres(s.fx.Pool, s.fx.Schema)
	if err != nil {
		return err
	}
	s.w, err = startWorker(worker.Config{Log: s.fx.Store, Checkpoints: cps, Logger: warnLogger(s.env.Logger), Hooks: hooks}, sub)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.xStop, s.xEnded = cancel, make(chan struct{})
	go func() {
		defer close(s.xEnded)
		s.xErr = x.Run(ctx)
	}()
	return nil
}

// Stop stops the worker and the executor.
func (s *SagaWorkload) Stop() {
	if s.w != nil {
		s.w.stop()
		s.w = nil
	}
	if s.xStop != nil {
		s.xStop()
		<-s.xEnded
		s.xStop = nil
	}
}

// wait waits for the probe's sagas to end, or ctx, or a stall.
func (s *SagaWorkload) wait(ctx context.Context, p *sagaProbe) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastN := time.Now(), int64(-1)
	for {
		select {
		case <-p.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-s.xEnded:
			return fmt.Errorf("bench: saga executor stopped: %v", s.xErr)
		case <-tick.C:
			if n := p.completed.Load(); n != lastN {
				last, lastN = time.Now(), n
			} else if time.Since(last) > stallTimeout {
				return fmt.Errorf("bench: saga: %d of %d sagas done, none for %v", n, p.want, stallTimeout)
			}
		}
	}
}

// SagaBacklog is one run of the saga scenario's backlog: a fresh fixture
// with start events imported, run by Run.
type SagaBacklog struct {
	s     *SagaWorkload
	probe *sagaProbe
	n     int64
}

// NewSagaBacklog creates a fresh fixture and imports opts.Events start
// events (one stream each). Close drops it.
func NewSagaBacklog(ctx context.Context, env *Env, opts Options) (*SagaBacklog, error) {
	opts = opts.withDefaults(ScenarioSaga)
	s, err := NewSagaWorkload(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Preload(ctx, 0, int64(opts.Events)); err != nil {
		s.Close()
		return nil, err
	}
	return &SagaBacklog{s: s, probe: newSagaProbe(int64(opts.Events)), n: int64(opts.Events)}, nil
}

// Run starts the saga's subscription and executor and returns when every
// instance has completed (they keep running until Close).
func (b *SagaBacklog) Run(ctx context.Context) (int64, error) {
	if err := b.s.Start(b.probe); err != nil {
		return 0, err
	}
	err := b.s.wait(ctx, b.probe)
	return b.probe.completed.Load(), err
}

// StepDurations returns the step durations saga.Hooks.Step reported.
func (b *SagaBacklog) StepDurations() []time.Duration {
	b.probe.mu.Lock()
	defer b.probe.mu.Unlock()
	return slices.Clone(b.probe.steps)
}

// Close stops the saga and drops the fixture.
func (b *SagaBacklog) Close() { b.s.Close() }

// mergeProbes pools the latencies of several runs.
func mergeProbes(ps []*sagaProbe) *sagaProbe {
	out := newSagaProbe(0)
	for _, p := range ps {
		p.mu.Lock()
		out.steps = append(out.steps, p.steps...)
		out.gaps = append(out.gaps, p.gaps...)
		out.total = append(out.total, p.total...)
		out.errs.Add(p.errs.Load())
		p.mu.Unlock()
	}
	return out
}

// withSagaLatencies puts a probe's step percentiles in r (P50/P99: step
// duration) and its other latencies in Extra and Notes.
func withSagaLatencies(r Result, p *sagaProbe) Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	r.P50Ms, r.P99Ms = ms(Percentile(p.steps, 50)), ms(Percentile(p.steps, 99))
	r.Extra = map[string]float64{
		"step_p50_ms": r.P50Ms, "step_p99_ms": r.P99Ms, "step_max_ms": ms(Percentile(p.steps, 100)),
		"step_to_step_p50_ms": ms(Percentile(p.gaps, 50)), "step_to_step_p99_ms": ms(Percentile(p.gaps, 99)),
		"first_to_last_step_p50_ms": ms(Percentile(p.total, 50)), "first_to_last_step_p99_ms": ms(Percentile(p.total, 99)),
	}
	r.Notes += fmt.Sprintf("; step duration (saga.Hooks.Step: %d attempts, %d failed) p50 %.3f ms, p99 %.3f ms, max %.3f ms; "+
		"between an instance's consecutive recorded steps (next step run + Record) p50 %.2f ms, p99 %.2f ms; "+
		"first recorded step to completion p50 %.2f ms, p99 %.2f ms",
		len(p.steps), p.errs.Load(), r.P50Ms, r.P99Ms, r.Extra["step_max_ms"], r.Extra["step_to_step_p50_ms"], r.Extra["step_to_step_p99_ms"],
		r.Extra["first_to_last_step_p50_ms"], r.Extra["first_to_last_step_p99_ms"])
	return r
}

// sagaLatency appends Warmup+Events start events at Rate with Store.Append
// while the saga runs, and measures each one's time from just before its
// append to its saga's completion (the Transition hook).
func sagaLatency(ctx context.Context, env *Env, opts Options) (Result, error) {
	n := min(opts.Events, 2_000)
	warm := max(opts.Warmup, 0)
	var (
		best      Result
		bestShare float64
	)
	for attempt := 1; ; attempt++ {
		r, share, err := sagaLatencyOnce(ctx, env, opts, warm, n)
		if err != nil {
			return Result{}, err
		}
		if attempt == 1 || share < bestShare {
			best, bestShare = r, share
		}
		if share <= disturbed || attempt == maxAttempts || env.QuietWait <= 0 {
			if attempt > 1 {
				best.Notes += fmt.Sprintf("; kept the least disturbed of %d attempts (other processes %.0f%% of one core)", attempt, 100*bestShare)
			}
			return best, nil
		}
	}
}

func sagaLatencyOnce(ctx context.Context, env *Env, opts Options, warm, n int) (Result, float64, error) {
	s, err := NewSagaWorkload(ctx, env, opts)
	if err != nil {
		return Result{}, 0, err
	}
	defer s.Close()
	total := warm + n
	sent := make([]atomic.Int64, total)
	lat := make([]time.Duration, 0, n)
	var latMu sync.Mutex
	probe := newSagaProbe(int64(total))
	toFirst := make([]time.Duration, 0, n)
	measured := func(corr string) (int64, bool) {
		k, err := strconv.ParseInt(corr[4:], 10, 64)
		if err != nil {
			return 0, false
		}
		k -= 10_000_000
		return k, k >= int64(warm) && k < int64(total)
	}
	probe.onComplete = func(corr string, at time.Time) {
		if k, ok := measured(corr); ok {
			latMu.Lock()
			lat = append(lat, at.Sub(time.Unix(0, sent[k].Load())))
			latMu.Unlock()
		}
	}
	probe.onFirst = func(corr string, at time.Time) {
		if k, ok := measured(corr); ok {
			latMu.Lock()
			toFirst = append(toFirst, at.Sub(time.Unix(0, sent[k].Load())))
			latMu.Unlock()
		}
	}
	if err := s.Start(probe); err != nil {
		return Result{}, 0, err
	}
	benchcpu.WaitQuiet(ctx, env.Postmaster, env.QuietWait)
	c0, begin := benchcpu.Take(env.Postmaster), time.Now()
	interval := time.Duration(float64(time.Second) / opts.Rate)
	var first, last time.Time
	for i := range total {
		target := begin.Add(time.Duration(i) * interval)
		if d := time.Until(target); d > 0 {
			time.Sleep(d)
		}
		now := time.Now()
		if i == warm {
			first = now
		}
		sent[i].Store(now.UnixNano())
		if _, err := s.fx.Store.Append(ctx, "order-"+strconv.Itoa(i), eventlog.NoStream, s.startEvent(int64(i), 0)); err != nil {
			return Result{}, 0, fmt.Errorf("bench: saga-latency append: %w", err)
		}
		last = time.Now()
	}
	if err := s.wait(ctx, probe); err != nil {
		return Result{}, 0, err
	}
	c := benchcpu.Take(env.Postmaster).Sub(c0)
	s.Stop()
	share := c.Other().Seconds() / time.Since(begin).Seconds()
	r := Result{
		Scenario:   ScenarioSaga + "-latency",
		Events:     int64(n),
		Seconds:    round(last.Sub(first).Seconds(), 3),
		EventsPerS: round(float64(n-1)/last.Sub(first).Seconds(), 1),
		P50Ms:      ms(Percentile(lat, 50)),
		P99Ms:      ms(Percentile(lat, 99)),
	}
	r.Notes = fmt.Sprintf("\"events\" are sagas; %d start events after %d warm-up at %.0f/s, each Store.Append to a new stream while the saga runs; "+
		"p50/p99 are end to end: from just before the start event's append to the Transition hook recording the saga completed "+
		"(append -> NOTIFY -> worker reads -> subscription transaction inserts the instance -> %s -> 3 steps, each recorded); "+
		"p90 %.2f ms, max %.2f ms; executor Concurrency %d, subscription %d partitions; no plain-pgx baseline",
		n, warm, opts.Rate, handOffPath(!opts.NoHandOff), ms(Percentile(lat, 90)), ms(Percentile(lat, 100)), opts.Concurrency, opts.Partitions)
	r = withSagaLatencies(r, probe)
	r.P50Ms, r.P99Ms = ms(Percentile(lat, 50)), ms(Percentile(lat, 99)) // end to end, not the step
	r.Extra["e2e_p50_ms"], r.Extra["e2e_p99_ms"] = r.P50Ms, r.P99Ms
	r.Extra["append_to_first_step_p50_ms"], r.Extra["append_to_first_step_p99_ms"] = ms(Percentile(toFirst, 50)), ms(Percentile(toFirst, 99))
	r.Notes += fmt.Sprintf("; from the append to the first step recorded (subscription, start, hand-off or claim, step 1) p50 %.2f ms, p99 %.2f ms",
		r.Extra["append_to_first_step_p50_ms"], r.Extra["append_to_first_step_p99_ms"])
	if len(lat) != n {
		return r, share, fmt.Errorf("bench: saga-latency: measured %d of %d sagas", len(lat), n)
	}
	return r, share, nil
}

// handOffPath describes how a new instance reaches the executor.
func handOffPath(on bool) string {
	if on {
		return "commit hands it to the executor (saga.HandOff)"
	}
	return "commit wakes the executor (no hand-off) -> Claim"
}

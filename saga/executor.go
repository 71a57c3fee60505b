package saga

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/sethvargo/go-retry"
	"go.opentelemetry.io/otel/trace"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/backoff"
	"github.com/causewayhq/causeway/worker"
)

// DefaultConcurrency is ExecutorConfig.Concurrency's default. Steps mostly
// wait (on I/O, on their outcome's commit), and outcomes recorded at the
// same time share a commit (the Postgres store's group commit), so more
// instances in flight mean fewer commits per saga: on 2 cores, no-op
// sagas ran 1,100/s at 16, 1,800/s at 32 and 2,000–2,700/s at 64, with no
// change in the latency at a steady 200 starts/s (docs/benchmarks.md).
// Beyond 64 it gained nothing more there. A slot is a goroutine; steps
// that use a database pool queue on it as they would anyway.
const DefaultConcurrency = 64

// ExecutorConfig configures an Executor.
type ExecutorConfig struct {
	Store Store
	// Log is read for the events wait steps receive.
	Log eventlog.Store
	// Owner names this executor in leases (default host-pid-random).
	Owner string
	// Concurrency is how many instances run steps at once (default
	// DefaultConcurrency).
	Concurrency int
	// PollInterval bounds how late a due instance (a retry, a timeout) is
	// picked up when nothing woke the executor (default 200 ms).
	PollInterval time.Duration
	// LeaseMargin is added to the longest step timeout to make the lease
	// (default 10 s): a step never outlives its lease, so no other executor
	// can run the same instance at the same time.
	LeaseMargin time.Duration
	// ShutdownTimeout bounds how long steps in flight may finish after the
	// context ends (default 10 s); unfinished ones run again elsewhere.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	Hooks           Hooks
	// TracerProvider receives the spans of step attempts (default: the
	// global otel.GetTracerProvider(), looked up at each use).
	TracerProvider trace.TracerProvider
	// Clock decides when a retry or a wait's timeout is due and times the
	// poll (default worker.SystemClock). Give the store the same clock.
	Clock worker.Clock
}

// Hooks observe the executor (metrics, tests). They must be fast and safe
// for concurrent use.
type Hooks struct {
	// Transition is called after every recorded step outcome.
	Transition func(before, after Instance, h HistoryEntry)
	// Step is called after every step attempt.
	Step func(sagaType, step string, phase Phase, took time.Duration, err error)
}

// Executor drives saga instances of the given definitions.
type Executor struct {
	cfg   ExecutorConfig
	defs  map[string]Saga
	steps map[string][]stepInfo
	types []string
	lease time.Duration
	wake  chan struct{}
	ho    *handoff
}

// NewExecutor validates the definitions. It does no I/O.
func NewExecutor(cfg ExecutorConfig, defs ...Saga) (*Executor, error) {
	if cfg.Store == nil || cfg.Log == nil {
		return nil, errors.New("saga: ExecutorConfig.Store and Log are required")
	}
	if len(defs) == 0 {
		return nil, errors.New("saga: no definitions")
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if err := validateText(cfg.Owner); err != nil {
		return nil, fmt.Errorf("saga: ExecutorConfig.Owner %q: %w", cfg.Owner, err)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.LeaseMargin <= 0 {
		cfg.LeaseMargin = 10 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = worker.SystemClock
	}
	x := &Executor{cfg: cfg, defs: map[string]Saga{}, steps: map[string][]stepInfo{}, wake: make(chan struct{}, 1), ho: newHandoff()}
	var longest time.Duration
	for _, d := range defs {
		if err := d.Err(); err != nil {
			return nil, err
		}
		if _, dup := x.defs[d.Name()]; dup {
			return nil, fmt.Errorf("saga: %s registered twice", d.Name())
		}
		x.defs[d.Name()] = d
		x.steps[d.Name()] = d.steps_()
		x.types = append(x.types, d.Name())
		for _, s := range x.steps[d.Name()] {
			longest = max(longest, s.timeout)
		}
	}
	x.lease = longest + cfg.LeaseMargin
	return x, nil
}

// Wake makes the executor look for due instances now (e.g. after a start
// was committed). It never blocks.
func (x *Executor) Wake() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// Run drives instances until ctx ends, then lets steps in flight finish
// (within ShutdownTimeout) and record.
//
// Free slots take the instances a subscription handed over first (see
// HandOff), then claim — for the free slots and for the ready queue, up to
// Concurrency instances ahead: a slot done with its instance takes the next
// one from that queue without a claim of its own, so a backlog is claimed
// Concurrency instances or more at a time, not a slot's worth. A claim runs when something may be due: at the
// start, on Wake, at each poll, and while the last claim filled every free
// slot (a backlog); a slot freed with nothing due waits for those instead
// of claiming nothing.
func (x *Executor) Run(ctx context.Context) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	x.reopen()
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, x.cfg.Concurrency)
		freed = make(chan struct{}, 1)
	)
	// run drives inst in a slot taken for it, then the ready instances
	// that the slot finds when it is done.
	run := func(inst Instance) {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() {
				<-slots
				select {
				case freed <- struct{}{}:
				default:
				}
				wg.Done()
			}()
			for {
				x.drive(work, inst)
				next, ok := Instance{}, ctx.Err() == nil
				if ok {
					next, ok = x.takeReady(work)
				}
				if !ok {
					return
				}
				inst = next
			}
		}()
	}
	backoff := backoff.New(50*time.Millisecond, 5*time.Second)
	due := true
	for ctx.Err() == nil {
		free := x.cfg.Concurrency - len(slots)
		for ; free > 0; free-- {
			inst, ok := x.takeReady(ctx)
			if !ok {
				break
			}
			run(inst)
		}
		if free > 0 && due {
			// Claim for the free slots and, ahead, for the ready queue:
			// slots that finish take those without a claim of their own.
			want := free + x.readyRoom()
			before := x.cfg.Clock.Now()
			insts, err := x.cfg.Store.Claim(ctx, x.types, x.cfg.Owner, want, x.lease)
			if err != nil {
				if ctx.Err() == nil {
					wait := backoff.Next()
					x.cfg.Logger.Warn("causeway: saga claim failed; retrying", "err", err, "retry_in", wait)
					sleepCtx(ctx, wait)
				}
				continue
			}
			backoff.Reset()
			for i, inst := range insts {
				if i < free {
					run(inst)
					continue
				}
				// Our view of its lease, as for a hand-over.
				inst.LeaseExpiresAt = before.Add(x.lease)
				x.ho.mu.Lock()
				x.ho.ready = append(x.ho.ready, inst)
				x.ho.mu.Unlock()
			}
			// A full claim: there may be more due right now, and new
			// instances go behind them (no hand-off) until it is worked off.
			due = len(insts) == want
			x.setBacklog(due)
			if due {
				continue
			}
		}
		poll := x.cfg.Clock.NewTimer(x.cfg.PollInterval)
		select {
		case <-ctx.Done():
		case <-x.wake:
			due = true
		case <-freed:
		case <-x.ho.readyc:
		case <-poll.C():
			due = true
		}
		poll.Stop()
	}
	left := x.stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(x.cfg.ShutdownTimeout):
		cancelWork()
		<-done
	}
	// Handed over but never started: let other executors have them now.
	if len(left) > 0 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		for _, inst := range left {
			x.letGo(rctx, inst)
		}
		cancel()
	}
	return ctx.Err()
}

// drive runs an instance's steps while it stays runnable, recording each
// outcome before the next step.
func (x *Executor) drive(ctx context.Context, inst Instance) {
	for ctx.Err() == nil {
		def, steps := x.defs[inst.Type], x.steps[inst.Type]
		var (
			r        result
			fx       Effects
			consumed *InboxEntry
			span     trace.SpanContext
		)
		now := x.cfg.Clock.Now()
		switch {
		case inst.Status == StatusWaiting:
			entry, event, err := x.receive(ctx, inst, steps[inst.Step].wait)
			if err != nil {
				x.cfg.Logger.Warn("causeway: saga inbox read failed", x.logAttrs(inst, span, "err", err)...)
				x.release(ctx, inst, now.Add(time.Second))
				return
			}
			switch {
			case event != nil:
				consumed = entry
				r, fx, span = x.attempt(ctx, def, &inst, steps, false, event)
			case !now.Before(inst.WaitDeadline):
				r = result{timedOut: true, err: fmt.Sprintf("no %s event within %v", steps[inst.Step].wait, steps[inst.Step].timeout)}
			default:
				// Woken early with nothing for us: sleep until the deadline.
				x.release(ctx, inst, inst.WaitDeadline)
				return
			}
		default:
			r, fx, span = x.attempt(ctx, def, &inst, steps, inst.Status == StatusCompensating, nil)
		}
		next, h := advance(inst, steps, r, x.cfg.Clock.Now())
		rec, err := x.record(ctx, inst, next, h, fx, consumed, x.keep(next))
		var refused *RefusedError
		if errors.As(err, &refused) {
			// The outcome itself cannot be stored (an emit conflicts or is
			// invalid, an enqueue is refused, the state is refused): record
			// the attempt as failed instead, with none of its effects, so it
			// is visible and the step retries on fresh state or the saga
			// compensates — never the same record again.
			r = result{err: refused.Error(), permanent: refused.Permanent}
			next, h = advance(inst, steps, r, x.cfg.Clock.Now())
			rec, err = x.record(ctx, inst, next, h, Effects{}, nil, x.keep(next))
		}
		if err != nil {
			return
		}
		x.logOutcome(inst, rec, h, span)
		if hk := x.cfg.Hooks.Transition; hk != nil {
			hk(inst, rec, h)
		}
		if rec.LeaseOwner == "" {
			return
		}
		inst = rec
	}
}

// keep is how long to keep the lease after recording next: a runnable
// instance that is due carries on with its next step under the same lease.
// A parked instance asks to keep it too: the store keeps it only if the
// event it waits for is already filed, and makes it due (see Parked).
func (x *Executor) keep(next Instance) time.Duration {
	if Parked(next) || runnableStatus(next.Status) && !next.NextAttemptAt.After(x.cfg.Clock.Now()) {
		return x.lease
	}
	return 0
}

// attempt runs one attempt of the current step with its timeout, in its
// span, outside any transaction, turning panics into failures.
func (x *Executor) attempt(ctx context.Context, def Saga, inst *Instance, steps []stepInfo, compensate bool, event *eventlog.Event) (result, Effects, trace.SpanContext) {
	s := steps[inst.Step]
	phase := PhaseAction
	switch {
	case compensate:
		phase = PhaseCompensation
	case event != nil:
		phase = PhaseWait
	}
	ctx, span := x.startSpan(ctx, inst, s.name, phase, event)
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	state, fx, err := func() (state []byte, fx Effects, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("step panicked: %v\n%s", p, debug.Stack())
			}
		}()
		return def.run(sctx, inst, inst.Step, compensate, inst.Attempts+1, event)
	}()
	if err == nil && sctx.Err() != nil {
		err = fmt.Errorf("step %s timed out after %v", s.name, s.timeout)
	}
	endSpan(span, err)
	if hk := x.cfg.Hooks.Step; hk != nil {
		hk(inst.Type, s.name, phase, time.Since(start), err)
	}
	if err != nil {
		return result{err: err.Error(), permanent: worker.IsPermanent(err)}, Effects{}, span.SpanContext()
	}
	fx.Emits = traced(ctx, fx.Emits)
	return result{ok: true, state: state}, fx, span.SpanContext()
}

// receive returns the oldest filed event the waiting instance can consume.
func (x *Executor) receive(ctx context.Context, inst Instance, eventType string) (*InboxEntry, *eventlog.Event, error) {
	entries, err := x.cfg.Store.Inbox(ctx, inst.Type, inst.CorrelationID, eventType)
	if err != nil || len(entries) == 0 {
		return nil, nil, err
	}
	e, found, err := eventlog.ReadAt(ctx, x.cfg.Log, entries[0].Position)
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, fmt.Errorf("filed event %s is no longer in the log", entries[0].EventID)
	}
	return &entries[0], &e, nil
}

// record stores an outcome, retrying while the database is away: the step
// ran, so its outcome must land (or the lease lapse, and the step run again
// elsewhere under the same idempotency key). A refusal of the outcome
// itself (ErrOutcomeRefused) is returned at once: it would fail again.
func (x *Executor) record(ctx context.Context, claimed, next Instance, h HistoryEntry, fx Effects, consumed *InboxEntry, keep time.Duration) (Instance, error) {
	// Retry with a capped exponential backoff, but never past the lease:
	// the backoff stops when the next wait would outlast it.
	var last error
	leaseOut := false
	exp := retry.WithCappedDuration(2*time.Second, retry.NewExponential(50*time.Millisecond))
	b := retry.BackoffFunc(func() (time.Duration, bool) {
		d, stop := exp.Next()
		if stop || claimed.LeaseExpiresAt.Sub(x.cfg.Clock.Now()) < d {
			leaseOut = true
			return 0, true
		}
		x.cfg.Logger.Warn("causeway: recording saga outcome failed; retrying", x.logAttrs(claimed, trace.SpanContext{}, "step", h.Step, "err", last)...)
		return d, false
	})
	rec, err := retry.DoValue(ctx, b, func(ctx context.Context) (Instance, error) {
		rec, err := x.cfg.Store.Record(ctx, claimed, next, h, fx, consumed, keep)
		if err == nil || errors.Is(err, ErrOutcomeRefused) || errors.Is(err, ErrLeaseLost) || ctx.Err() != nil {
			return rec, err // done, or retrying cannot help
		}
		last = err
		return rec, retry.RetryableError(err)
	})
	switch {
	case err == nil || errors.Is(err, ErrOutcomeRefused):
		return rec, err
	case leaseOut:
		x.cfg.Logger.Warn("causeway: saga lease ran out before its outcome could be recorded; the step will run again",
			x.logAttrs(claimed, trace.SpanContext{}, "step", h.Step, "err", err)...)
	default:
		x.cfg.Logger.Warn("causeway: saga outcome not recorded", x.logAttrs(claimed, trace.SpanContext{}, "step", h.Step, "err", err)...)
	}
	return Instance{}, err
}

// release gives an instance back until at, without a history entry.
func (x *Executor) release(ctx context.Context, inst Instance, at time.Time) {
	next := inst
	next.NextAttemptAt = at
	_, _ = x.record(ctx, inst, next, HistoryEntry{}, Effects{}, nil, 0)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

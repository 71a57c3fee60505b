package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
)

// Helpers shared by the scenarios that run a worker (worker-catchup,
// worker-upsert, saga).

// warnLogger passes on warnings and errors only: the worker logs every
// partition claim at info level, which is noise in a benchmark's progress
// log, while its warnings (retries) tell why a run was slow.
func warnLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(minLevel{Handler: l.Handler(), min: slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// catchUpTracker follows a subscription's commits through
// worker.Hooks.Committed: it counts committed events and transactions and
// tells when every partition's checkpoint has reached a target position (the
// head of a preloaded log).
type catchUpTracker struct {
	sub    string
	target eventlog.Position
	want   int64 // events in the log: when they are all committed, allAt is set

	start, allAt, doneAt time.Time

	events, commits atomic.Int64
	last            atomic.Int64 // UnixNano of the last commit

	mu      sync.Mutex
	reached []bool
	left    int
	done    chan struct{}
}

func newCatchUpTracker(sub string, partitions int, target eventlog.Position, want int64) *catchUpTracker {
	return &catchUpTracker{sub: sub, target: target, want: want, start: time.Now(), reached: make([]bool, partitions), left: partitions, done: make(chan struct{})}
}

// tail is the time from the last event's commit to the last partition's
// checkpoint reaching the head (marks only), or 0 if unknown.
func (t *catchUpTracker) tail() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.allAt.IsZero() || t.doneAt.IsZero() {
		return 0
	}
	return t.doneAt.Sub(t.allAt)
}

// committed is the worker.Hooks.Committed callback.
func (t *catchUpTracker) committed(sub string, partition int, pos eventlog.Position, n int) {
	if sub != t.sub {
		return
	}
	if t.events.Add(int64(n)) >= t.want && n > 0 && t.want > 0 {
		t.mu.Lock()
		if t.allAt.IsZero() {
			t.allAt = time.Now()
		}
		t.mu.Unlock()
	}
	if n > 0 {
		t.commits.Add(1)
	}
	t.last.Store(time.Now().UnixNano())
	if pos.Before(t.target) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if partition < len(t.reached) && !t.reached[partition] {
		t.reached[partition] = true
		t.left--
		if t.left == 0 {
			t.doneAt = time.Now()
			close(t.done)
		}
	}
}

// eventsPerCommit is the mean number of events per checkpoint transaction
// that carried events.
func (t *catchUpTracker) eventsPerCommit() float64 {
	if c := t.commits.Load(); c > 0 {
		return float64(t.events.Load()) / float64(c)
	}
	return 0
}

// runningWorker is a worker started by startWorker.
type runningWorker struct {
	cancel context.CancelFunc
	ended  chan struct{}
	err    error // Run's result, set when ended closes
}

// startWorker runs a worker with the given subscriptions until stop.
func startWorker(cfg worker.Config, subs ...worker.Subscription) (*runningWorker, error) {
	w, err := worker.New(cfg, subs...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningWorker{cancel: cancel, ended: make(chan struct{})}
	go func() {
		defer close(r.ended)
		r.err = w.Run(ctx)
	}()
	return r, nil
}

// stop stops the worker gracefully and waits for it.
func (r *runningWorker) stop() {
	r.cancel()
	<-r.ended
}

// stallTimeout bounds how long a catch-up may go without a commit before a
// scenario gives up on it.
const stallTimeout = 2 * time.Minute

var errStalled = errors.New("bench: no checkpoint commit for " + stallTimeout.String())

// waitCaughtUp waits until the tracker's partitions all reached the target,
// the worker ends, ctx ends, or no commit happened for stallTimeout.
func waitCaughtUp(ctx context.Context, r *runningWorker, t *catchUpTracker) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	t.last.Store(time.Now().UnixNano())
	for {
		select {
		case <-t.done:
			return nil
		case <-r.ended:
			return fmt.Errorf("bench: worker stopped before catching up: %v", r.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if time.Since(time.Unix(0, t.last.Load())) > stallTimeout {
				return fmt.Errorf("%w (%d events committed)", errStalled, t.events.Load())
			}
		}
	}
}

// workerFixture is a fixture with a preloaded log, a checkpoint store and
// the plain reader of the catchup scenario.
type workerFixture struct {
	fx        *Fixture
	readBatch int
	cps       *checkpoint.PostgresStore
	load      *CatchUpWorkload
	head      eventlog.Position
}

// newWorkerFixture creates a fixture and preloads it with n events (streams
// of ImportStreamLength events, see CatchUpWorkload.Preload); the worker
// and the plain readers read in batches of opts.ReadBatchSize (with
// defaults filled).
func newWorkerFixture(ctx context.Context, env *Env, name string, n int, opts Options) (*workerFixture, error) {
	fx, err := env.NewFixture(ctx, name, FixtureOptions{MaxConns: 24})
	if err != nil {
		return nil, err
	}
	wf := &workerFixture{fx: fx, readBatch: opts.ReadBatchSize}
	if wf.cps, err = checkpoint.NewPostgres(fx.Pool, fx.Schema); err != nil {
		fx.Close()
		return nil, err
	}
	ro := opts
	ro.BatchSize = opts.ReadBatchSize
	wf.load = NewCatchUpWorkload(fx, ro)
	begin := time.Now()
	if err := wf.load.Preload(ctx, n); err != nil {
		fx.Close()
		return nil, err
	}
	if wf.head, err = fx.Store.Head(ctx); err != nil {
		fx.Close()
		return nil, err
	}
	env.Logger.Info("bench: preloaded", "scenario", name, "events", n, "elapsed", time.Since(begin).Round(time.Millisecond))
	return wf, nil
}

func (wf *workerFixture) close() { wf.fx.Close() }

// workerConfig is the worker configuration the scenarios use: the
// fixture's store and checkpoints, defaults otherwise.
func (wf *workerFixture) workerConfig(env *Env, hooks worker.Hooks) worker.Config {
	return worker.Config{Log: wf.fx.Store, Checkpoints: wf.cps, ReadBatchSize: wf.readBatch, Logger: warnLogger(env.Logger), Hooks: hooks}
}

// CatchUpRun is a worker that has caught up with a preloaded log and is
// still running: stop it with Stop (after the clock).
type CatchUpRun struct {
	// Events is how many events the subscription committed.
	Events int64
	// EventsPerCommit is the mean number of events per checkpoint
	// transaction that carried events.
	EventsPerCommit float64
	// Tail is the time from the last event's commit until the last
	// partition's checkpoint reached the head (moved by marks alone).
	Tail time.Duration
	w    *runningWorker
}

// Stop stops the worker gracefully. It is safe on nil.
func (r *CatchUpRun) Stop() {
	if r != nil {
		r.w.stop()
	}
}

// workerSide is the "ours" side of a worker scenario: its run starts a
// worker and returns once it caught up (the time measured); post notes the
// run's batching and stops the worker, off the clock.
type workerSide struct {
	start   func(ctx context.Context) (*CatchUpRun, error)
	running *CatchUpRun
	// perTx and tails hold, per attempt, the events per checkpoint
	// transaction and the ms from the last event's commit until the last
	// partition's checkpoint reached the head.
	perTx, tails []string
}

func (s *workerSide) side() side {
	return side{name: "ours", run: s.run, post: s.post}
}

func (s *workerSide) run(ctx context.Context, _ int) (int64, error) {
	r, err := s.start(ctx)
	if err != nil {
		return 0, err
	}
	s.running = r
	return r.Events, nil
}

func (s *workerSide) post(int) error {
	if s.running != nil {
		s.perTx = append(s.perTx, fmt.Sprintf("%.0f", s.running.EventsPerCommit))
		s.tails = append(s.tails, fmt.Sprintf("%.0f", ms(s.running.Tail)))
		s.running.Stop()
		s.running = nil
	}
	return nil
}

// checkReadModels verifies that each upsert read model (ReadModelDDL) holds
// every one of want events once.
func checkReadModels(ctx context.Context, fx *Fixture, want int64, tables ...string) error {
	for _, t := range tables {
		var n int64
		if err := fx.Pool.QueryRow(ctx, "SELECT coalesce(sum(events), 0) FROM "+t).Scan(&n); err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("bench: read model %s holds %d events, want %d", t, n, want)
		}
	}
	return nil
}

// warmBoth runs each side once before the measured repetitions, then check
// (both sides must have folded every event).
func warmBoth(ctx context.Context, scenario string, ours, plain func(context.Context) (int64, error), check func(context.Context) error) error {
	for _, run := range []func(context.Context) (int64, error){ours, plain} {
		if _, err := run(ctx); err != nil {
			return fmt.Errorf("bench: %s warm-up: %w", scenario, err)
		}
	}
	return check(ctx)
}

// catchUp runs sub (its Name made unique by the caller) in a new worker
// from the start of the log until every partition's checkpoint reaches the
// head, and returns the still running worker, which the caller stops after
// the clock. On error the worker is stopped.
func (wf *workerFixture) catchUp(ctx context.Context, env *Env, sub worker.Subscription) (*CatchUpRun, error) {
	t := newCatchUpTracker(sub.Name(), sub.Partitions(), wf.head, wf.load.Loaded())
	r, err := startWorker(wf.workerConfig(env, worker.Hooks{Committed: t.committed}), sub)
	if err != nil {
		return nil, err
	}
	if err := waitCaughtUp(ctx, r, t); err != nil {
		r.stop()
		return nil, err
	}
	return &CatchUpRun{Events: t.events.Load(), EventsPerCommit: t.eventsPerCommit(), Tail: t.tail(), w: r}, nil
}

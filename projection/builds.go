package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/worker"
)

// BuildState is where a build of a versioned projection stands.
type BuildState string

// Build states. A projection has at most one live build (the one readers
// read) and at most one building build (catching up beside it).
const (
	BuildBuilding BuildState = "building" // catching up beside the live one
	BuildLive     BuildState = "live"     // what the live schema's views show
	BuildRetired  BuildState = "retired"  // replaced; dropped after the grace period
	BuildAborted  BuildState = "aborted"  // abandoned while building; dropped
	BuildDropped  BuildState = "dropped"  // retired, then dropped
)

// Build is one build of a versioned projection: a subscription of its own
// (checkpoint.BuildName) writing into a schema of its own.
type Build struct {
	Projection   string
	Build        int
	Version      int // the code version it was built with
	Subscription string
	Schema       string // the build's tables
	LiveSchema   string // the views readers read
	State        BuildState
	RequestedBy  string
	RequestedAt  time.Time
	LiveAt       time.Time
	RetiredAt    time.Time
	DropAfter    time.Time
	DroppedAt    time.Time
	// Target is the head when the build started; Total the events of the
	// projection's filter up to it; Done how many of those it has gone
	// through (sampled every few seconds: SampledAt), at Rate events/s.
	Target    eventlog.Position
	Total     int64
	Done      int64
	Rate      float64
	SampledAt time.Time
}

// Running reports whether the build has workers (building or live).
func (b Build) Running() bool { return b.State == BuildBuilding || b.State == BuildLive }

// ETA is the time left to reach the target at the sampled rate (0 when
// done or unknown).
func (b Build) ETA() time.Duration {
	left := b.Total - b.Done
	if left <= 0 || b.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(left) / b.Rate * float64(time.Second))
}

// Errors of the rebuild operations.
var (
	ErrBuildInProgress = errors.New("a build of this projection is already in progress (abort it first: `rebuild abort NAME`)")
	ErrNoBuild         = errors.New("no such build")
	ErrNotVersioned    = errors.New("projection is not versioned (declare projection.Version to rebuild it blue/green; `replay` rebuilds it in place)")
	ErrBuildState      = errors.New("build is not in a state that allows this")
	ErrUnknown         = errors.New("projection not registered in this program")
)

// BuildsConfig configures Builds.
type BuildsConfig struct {
	Pool *pgxpool.Pool
	// Schema is Causeway's schema (projection_builds, checkpoints).
	Schema      string
	Log         worker.Log
	Checkpoints *checkpoint.PostgresStore
	// Projections: the versioned ones are managed, the others ignored.
	Projections []*Projection
	// Effects is where the builds' handlers' Emit and Enqueue go (held
	// back while a build is not live); its Schema defaults to Schema.
	Effects EffectsEnv
	// Worker is the template of the builds' workers (Log and Checkpoints
	// are set from the fields above).
	Worker worker.Config
	// By names this process in requested_by ("deploy: <By>") for the
	// builds it starts when the code's version is new.
	By string
	// SwapMaxLag is how many events a building build may still be behind
	// the head when it replaces the live one (default 100).
	SwapMaxLag int64
	// Grace is how long a retired build is kept before it is dropped
	// (default 1 h).
	Grace time.Duration
	// Interval is the builds loop's tick (default 1 s).
	Interval time.Duration
	// SwapWait bounds how long a switch waits, in its transaction, for the
	// new build to pass the frozen old one (default 5 s); then it retries
	// at a later tick.
	SwapWait time.Duration
	// SampleEvery is how often progress is counted (default 3 s).
	SampleEvery time.Duration
	Logger      *slog.Logger
}

// Defaults of BuildsConfig.
const (
	DefaultSwapMaxLag  = 100
	DefaultBuildGrace  = time.Hour
	DefaultBuildsTick  = time.Second
	DefaultSwapWait    = 5 * time.Second
	DefaultSampleEvery = 3 * time.Second
)

// Builds runs and manages the builds of versioned projections: Run is the
// loop every runner runs (it creates, switches and drops builds and runs a
// worker for each building or live build of the code's version); Start,
// Abort, Drop and List are the operators' actions, from any process.
//
// Every action on one projection takes a transaction-scoped advisory lock
// on it and locks its builds' rows, so any number of runners may run the
// loop: one acts, the others skip that projection until the next tick.
type Builds struct {
	cfg   BuildsConfig
	projs map[string]*Projection
	names []string // versioned projections, in the order given
	wake  chan struct{}

	mu      sync.Mutex
	running map[string]*buildWorker // by subscription
	warned  map[string]bool         // projections whose live version is newer than the code's

	// beforeSwitchCommit, set by tests only, runs inside a switch's
	// transaction once everything is written and before the commit (so a
	// test can crash PostgreSQL there).
	beforeSwitchCommit func(ctx context.Context)
}

type buildWorker struct {
	build  Build
	cancel context.CancelFunc
	done   chan struct{}
}

// NewBuilds returns the builds manager.
func NewBuilds(cfg BuildsConfig) (*Builds, error) {
	if cfg.Pool == nil || cfg.Log == nil || cfg.Checkpoints == nil {
		return nil, errors.New("projection: Builds needs Pool, Log and Checkpoints")
	}
	if cfg.Schema == "" {
		cfg.Schema = migrations.DefaultSchema
	}
	if err := migrations.ValidateSchema(cfg.Schema); err != nil {
		return nil, err
	}
	if cfg.Effects.Schema == "" {
		cfg.Effects.Schema = cfg.Schema
	}
	if cfg.SwapMaxLag <= 0 {
		cfg.SwapMaxLag = DefaultSwapMaxLag
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultBuildGrace
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultBuildsTick
	}
	if cfg.SwapWait <= 0 {
		cfg.SwapWait = DefaultSwapWait
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = DefaultSampleEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Builds{cfg: cfg, projs: map[string]*Projection{}, wake: make(chan struct{}, 1),
		running: map[string]*buildWorker{}, warned: map[string]bool{}}
	live := map[string]string{}
	for _, p := range cfg.Projections {
		if !p.Versioned() {
			continue
		}
		if err := p.Err(); err != nil {
			return nil, err
		}
		ls, _ := p.liveSchemaName()
		if other, dup := live[ls]; dup {
			return nil, fmt.Errorf("projection %s: live schema %s is also %s's (set projection.Schema)", p.name, ls, other)
		}
		live[ls] = p.name
		b.projs[p.name] = p
		b.names = append(b.names, p.name)
	}
	return b, nil
}

// Versioned reports whether the manager has any projection to manage.
func (b *Builds) Versioned() bool { return len(b.names) > 0 }

// Wake makes the loop act now rather than at its next tick.
func (b *Builds) Wake() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Run manages the builds until ctx ends, then stops their workers
// gracefully. A failed round is logged and tried again at the next tick.
func (b *Builds) Run(ctx context.Context) error {
	defer b.stopAll()
	if len(b.names) == 0 {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(b.cfg.Interval)
	defer tick.Stop()
	for {
		b.round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-b.wake:
		}
	}
}

// round manages every projection, then brings the workers in line with
// the builds' states.
func (b *Builds) round(ctx context.Context) {
	for _, name := range b.names {
		if ctx.Err() != nil {
			return
		}
		p := b.projs[name]
		if err := b.manage(ctx, p); err != nil && ctx.Err() == nil {
			b.cfg.Logger.Error("causeway: managing the builds failed; retrying at the next tick", "projection", name, "err", err)
		}
		builds, err := b.list(ctx, name)
		if err != nil {
			if ctx.Err() == nil {
				b.cfg.Logger.Error("causeway: reading the builds failed", "projection", name, "err", err)
			}
			continue
		}
		b.reconcile(ctx, p, builds)
	}
}

// reconcile runs a worker for each building or live build of the code's
// version and stops the others.
func (b *Builds) reconcile(ctx context.Context, p *Projection, builds []Build) {
	want := map[string]Build{}
	for _, bl := range builds {
		if bl.Running() && bl.Version == p.version {
			want[bl.Subscription] = bl
		}
		if bl.State == BuildLive && bl.Version > p.version && !b.warned[p.name] {
			b.warned[p.name] = true
			b.cfg.Logger.Warn("causeway: the live build of this projection is of a newer version than this code; this runner runs none of it",
				"projection", p.name, "live_version", bl.Version, "code_version", p.version)
		}
	}
	b.mu.Lock()
	var stop []*buildWorker
	for sub, w := range b.running {
		select {
		case <-w.done: // stopped by itself: started again below
			delete(b.running, sub)
			continue
		default:
		}
		if _, ok := want[sub]; !ok {
			stop = append(stop, w)
			delete(b.running, sub)
		}
	}
	b.mu.Unlock()
	for _, w := range stop {
		w.cancel()
		<-w.done
		b.cfg.Logger.Info("causeway: build worker stopped", "subscription", w.build.Subscription)
	}
	for sub, bl := range want {
		b.mu.Lock()
		_, ok := b.running[sub]
		b.mu.Unlock()
		if ok {
			continue
		}
		if err := b.startWorker(ctx, p, bl); err != nil {
			b.cfg.Logger.Error("causeway: starting a build worker failed", "subscription", sub, "err", err)
		}
	}
}

func (b *Builds) startWorker(ctx context.Context, p *Projection, bl Build) error {
	// Every build reads the whole log, whatever Start says: a build from
	// now would replace the live read model with an empty one.
	sub := p.subscription(bl.Subscription, worker.Start(worker.FromBeginning),
		worker.OnAny(buildHandler(b, p, bl.Subscription)), worker.BeforeTx(b.beforeTx(bl)))
	cfg := b.cfg.Worker
	cfg.Log, cfg.Checkpoints = b.cfg.Log, b.cfg.Checkpoints
	if cfg.Logger == nil {
		cfg.Logger = b.cfg.Logger
	}
	w, err := worker.New(cfg, sub)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	bw := &buildWorker{build: bl, cancel: cancel, done: make(chan struct{})}
	b.mu.Lock()
	b.running[bl.Subscription] = bw
	b.mu.Unlock()
	go func() {
		defer close(bw.done)
		_ = w.Run(wctx) // returns when wctx ends
	}()
	b.cfg.Logger.Info("causeway: build worker started", "subscription", bl.Subscription, "state", bl.State, "schema", bl.Schema)
	return nil
}

func (b *Builds) stopAll() {
	b.mu.Lock()
	ws := make([]*buildWorker, 0, len(b.running))
	for _, w := range b.running {
		ws = append(ws, w)
	}
	clear(b.running)
	b.mu.Unlock()
	for _, w := range ws {
		w.cancel()
	}
	for _, w := range ws {
		<-w.done
	}
}

// RunningBuilds lists the subscriptions of the builds this process runs a
// worker for (tests, status).
func (b *Builds) RunningBuilds() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for sub := range b.running {
		out = append(out, sub)
	}
	return out
}

// projection returns a managed projection by name.
func (b *Builds) projection(name string) (*Projection, error) {
	if p, ok := b.projs[name]; ok {
		return p, nil
	}
	for _, p := range b.cfg.Projections {
		if p.name == name {
			return nil, fmt.Errorf("projection %s: %w", name, ErrNotVersioned)
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknown, name)
}

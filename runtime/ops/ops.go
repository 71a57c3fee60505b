// Package ops is what operators do to a running Causeway system: status,
// replay, dead letters, saga instances and queues. The command line (runtime/cli)
// and the HTTP management API (runtime/api) both act through it, and both
// print its JSON shapes (views.go): one snake_case shape per resource.
// Every method works from any process: state is read from and written to
// the database.
package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/saga"
	sagapg "github.com/causewayhq/causeway/saga/postgres"
	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
)

// Ops is what operators do to a running system, from the command line or
// the HTTP API. Every method works from any process: state is read from
// and written to the database.
type Ops struct {
	cfg Config
}

// Config is what Ops works on: the stores and what this program registers
// (its projections, sagas and subscriptions, for their filters and for
// readiness).
type Config struct {
	Log *pgstore.Store
	// Reader is Log as consumers read it (through the app's upcasters);
	// nil means Log.
	Reader      worker.Log
	Checkpoints *checkpoint.PostgresStore
	SagaStore   *sagapg.Store
	// Queues is the queue store (worker/queue/postgres in a runtime).
	Queues queue.Store

	Projections   []*projection.Projection
	Sagas         []saga.Saga
	Subscriptions []worker.Subscription
	// Builds manages the versioned projections' builds (rebuilds); nil
	// when the program has none.
	Builds *projection.Builds

	// MemberID and LeaseTTL are a replay's worker settings.
	MemberID string
	LeaseTTL time.Duration
	// ReadyMaxLag and ReadyMaxHorizon are Ready's thresholds.
	ReadyMaxLag     int64
	ReadyMaxHorizon time.Duration
	Logger          *slog.Logger
}

// New returns the operations over cfg's stores.
func New(cfg Config) *Ops {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Reader == nil {
		cfg.Reader = cfg.Log
	}
	return &Ops{cfg: cfg}
}

// Status is the whole system at a glance.
type Status struct {
	Head          eventlog.Position
	Horizon       pgstore.HorizonInfo
	Subscriptions []worker.SubscriptionStatus
	Sagas         map[string]map[saga.Status]int
	// Builds are the versioned projections' builds, with progress.
	Builds []projection.Build
}

// inspectOptions returns how to inspect a subscription: the registered
// definition's filter and cap when this program knows it.
func (o *Ops) inspectOptions(name string) worker.InspectOptions {
	opts := worker.InspectOptions{}
	for _, p := range o.cfg.Projections {
		if p.Name() == checkpoint.Lineage(name) { // a build "p#N" reads as p does
			opts.Filter = p.Filter()
		}
	}
	for _, d := range o.cfg.Sagas {
		if saga.SubscriptionName(d.Name()) == name {
			if s, err := saga.Subscription(o.cfg.SagaStore, d); err == nil {
				opts.Filter = s.Filter()
			}
		}
	}
	for _, s := range o.cfg.Subscriptions {
		if s.Name() == name {
			opts.Filter, opts.MaxDeadLetters = s.Filter(), s.MaxDeadLetters()
		}
	}
	return opts
}

// Status reports every stored subscription, the head, the horizon and
// saga counts.
func (o *Ops) Status(ctx context.Context) (Status, error) {
	var st Status
	var err error
	if st.Head, err = o.cfg.Log.Head(ctx); err != nil {
		return st, err
	}
	if st.Horizon, err = o.cfg.Log.Horizon(ctx); err != nil {
		return st, err
	}
	subs, err := o.cfg.Checkpoints.Subscriptions(ctx)
	if err != nil {
		return st, err
	}
	for _, s := range subs {
		ss, err := o.Subscription(ctx, s.Name)
		if err != nil {
			return st, err
		}
		st.Subscriptions = append(st.Subscriptions, ss)
	}
	if st.Builds, err = o.Builds(ctx, ""); err != nil {
		return st, err
	}
	st.Sagas = map[string]map[saga.Status]int{}
	for _, d := range o.cfg.Sagas {
		if st.Sagas[d.Name()], err = o.cfg.SagaStore.Count(ctx, d.Name()); err != nil {
			return st, err
		}
	}
	return st, nil
}

// Subscription reports one subscription (checkpoint.ErrNotFound if unknown).
func (o *Ops) Subscription(ctx context.Context, name string) (worker.SubscriptionStatus, error) {
	return worker.Inspect(ctx, o.cfg.Reader, o.cfg.Checkpoints, name, o.inspectOptions(name))
}

// ErrUnknownProjection: the projection is not registered in this program.
var ErrUnknownProjection = fmt.Errorf("projection not registered in this program")

// Replay rebuilds a projection registered in this program: it resets it
// (running runners pick it up from the start) and, with catchUp, runs it
// here until it has caught up, printing progress.
func (o *Ops) Replay(ctx context.Context, name string, catchUp bool, progress io.Writer) (projection.ReplayResult, error) {
	i := slices.IndexFunc(o.cfg.Projections, func(p *projection.Projection) bool { return p.Name() == name })
	if i < 0 {
		return projection.ReplayResult{}, fmt.Errorf("%w: %q (replay it from the binary that registers it)", ErrUnknownProjection, name)
	}
	var fx *projection.EffectsEnv // the handlers' Emit and Enqueue, as in the runners
	if o.cfg.Log != nil {
		fx = &projection.EffectsEnv{Appender: o.cfg.Log, Schema: o.cfg.Log.Schema()}
		fx.Queues, _ = o.cfg.Queues.(projection.TxEnqueuer)
	}
	return projection.Replay(ctx, projection.ReplayConfig{
		Projection: o.cfg.Projections[i], Log: o.cfg.Reader, Checkpoints: o.cfg.Checkpoints, CatchUp: catchUp, Progress: progress, Logger: o.cfg.Logger, Effects: fx,
		Worker: worker.Config{MemberID: o.cfg.MemberID, LeaseTTL: o.cfg.LeaseTTL, Logger: o.cfg.Logger},
	})
}

// DeadLetters lists dead letters.
func (o *Ops) DeadLetters(ctx context.Context, q checkpoint.DeadLetterQuery) ([]checkpoint.DeadLetter, error) {
	return o.admin().List(ctx, q)
}

// DeadLetter returns one dead letter with its event.
func (o *Ops) DeadLetter(ctx context.Context, sub string, id int64) (checkpoint.DeadLetter, *eventlog.Event, error) {
	dl, err := o.admin().Get(ctx, sub, id)
	if err != nil {
		return dl, nil, err
	}
	e, found, err := eventlog.ReadAt(ctx, o.cfg.Reader, dl.Position)
	if err != nil || !found {
		return dl, nil, err
	}
	return dl, &e, nil
}

// RetryDeadLetter asks the owner to re-deliver the dead letter's key.
func (o *Ops) RetryDeadLetter(ctx context.Context, sub string, id int64) error {
	return o.admin().Retry(ctx, sub, id)
}

// DiscardDeadLetter drops a dead letter unhandled and remembers its event,
// with who discarded it (see deadletters.go).
func (o *Ops) DiscardDeadLetter(ctx context.Context, sub string, id int64, by string) error {
	return o.admin().Discard(ctx, sub, id, by)
}

func (o *Ops) admin() worker.DeadLetterAdmin { return worker.DeadLetterAdmin{Store: o.cfg.Checkpoints} }

func (o *Ops) sagaAdmin() saga.Admin { return saga.Admin{Store: o.cfg.SagaStore, Sagas: o.cfg.Sagas} }

// Sagas lists saga instances.
func (o *Ops) Sagas(ctx context.Context, q saga.Query) ([]saga.Instance, error) {
	return o.sagaAdmin().List(ctx, q)
}

// Saga returns an instance with its history.
func (o *Ops) Saga(ctx context.Context, id uuid.UUID) (saga.Details, error) {
	return o.sagaAdmin().Get(ctx, id)
}

// RetrySaga, ResumeSaga and CancelSaga act on an instance (see saga.Admin).
func (o *Ops) RetrySaga(ctx context.Context, id uuid.UUID) (saga.Instance, error) {
	return o.sagaAdmin().Retry(ctx, id)
}

// ResumeSaga continues compensating past a failed compensation.
func (o *Ops) ResumeSaga(ctx context.Context, id uuid.UUID) (saga.Instance, error) {
	return o.sagaAdmin().Resume(ctx, id)
}

// CancelSaga compensates a running saga, or gives up a failed one.
func (o *Ops) CancelSaga(ctx context.Context, id uuid.UUID) (saga.Instance, error) {
	return o.sagaAdmin().Cancel(ctx, id)
}

// Readiness is the /readyz verdict.
type Readiness struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

// Ready checks the database, the horizon's age and every registered
// subscription's lag against the configured thresholds.
func (o *Ops) Ready(ctx context.Context) Readiness {
	var reasons []string
	h, err := o.cfg.Log.Horizon(ctx)
	if err != nil {
		return Readiness{Reasons: []string{"database: " + err.Error()}}
	}
	if h.Held && h.Age > o.cfg.ReadyMaxHorizon {
		reasons = append(reasons, fmt.Sprintf("log horizon held for %v by pid %d (%s): readers are stalled",
			h.Age.Round(time.Millisecond), h.PID, h.State))
	}
	names := o.Registered()
	// A versioned projection is served by its live build (a build catching
	// up beside it does not make the runner unready).
	builds, _ := o.Builds(ctx, "")
	for _, b := range builds {
		if b.State == projection.BuildLive {
			names = append(names, b.Subscription)
		}
	}
	for _, name := range names {
		st, err := o.Subscription(ctx, name)
		if err != nil {
			continue // not created yet: nothing to lag behind
		}
		if st.LagEvents > o.cfg.ReadyMaxLag {
			reasons = append(reasons, fmt.Sprintf("subscription %s is %d events behind", name, st.LagEvents))
		}
		if st.State == worker.StateHalted {
			reasons = append(reasons, fmt.Sprintf("subscription %s is halted at its dead-letter cap", name))
		}
	}
	return Readiness{Ready: len(reasons) == 0, Reasons: reasons}
}

// Registered lists the subscription names this program runs.
func (o *Ops) Registered() []string {
	var out []string
	for _, p := range o.cfg.Projections {
		out = append(out, p.Name())
	}
	for _, d := range o.cfg.Sagas {
		out = append(out, saga.SubscriptionName(d.Name()))
	}
	for _, s := range o.cfg.Subscriptions {
		out = append(out, s.Name())
	}
	slices.Sort(out)
	return out
}

// Subscriptions reports every stored subscription (those removed while
// listing are left out).
func (o *Ops) Subscriptions(ctx context.Context) ([]worker.SubscriptionStatus, error) {
	subs, err := o.cfg.Checkpoints.Subscriptions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]worker.SubscriptionStatus, 0, len(subs))
	for _, s := range subs {
		st, err := o.Subscription(ctx, s.Name)
		if errors.Is(err, checkpoint.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// CheckSubscription returns checkpoint.ErrNotFound when no subscription
// called name is stored.
func (o *Ops) CheckSubscription(ctx context.Context, name string) error {
	_, err := o.cfg.Checkpoints.Subscription(ctx, name)
	return err
}

// Restamp re-stamps the log's transaction ids after a restore or a move to
// another cluster, with every position the checkpoint and saga stores hold
// (see eventlog/postgres's Store.Restamp) and projections' held-back
// effects. Stop every runner first.
func (o *Ops) Restamp(ctx context.Context) (pgstore.RestampResult, error) {
	cols := append(o.cfg.Checkpoints.PositionColumns(), o.cfg.SagaStore.PositionColumns()...)
	cols = append(cols, projection.EffectsPositionColumns()...)
	return o.cfg.Log.Restamp(ctx, cols...)
}

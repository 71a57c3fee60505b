package runtime

import (
	"context"
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
	"github.com/causewayhq/causeway/worker"
)

// Ops is what operators do to a running system, from the command line or
// the HTTP API. Every method works from any process: state is read from
// and written to the database.
type Ops struct {
	app    App
	cfg    Config
	log    *pgstore.Store
	reader worker.Log // log through the app's upcasters
	cps    *checkpoint.PostgresStore
	sagas  *saga.PostgresStore
	logger *slog.Logger
}

// Status is the whole system at a glance.
type Status struct {
	Head          eventlog.Position
	Horizon       pgstore.HorizonInfo
	Subscriptions []worker.SubscriptionStatus
	Sagas         map[string]map[saga.Status]int
}

// inspectOptions returns how to inspect a subscription: the registered
// definition's filter and cap when this program knows it.
func (o *Ops) inspectOptions(name string) worker.InspectOptions {
	opts := worker.InspectOptions{}
	for _, p := range o.app.Projections {
		if p.Name() == name {
			opts.Filter = p.Filter()
		}
	}
	for _, d := range o.app.Sagas {
		if saga.SubscriptionName(d.Name()) == name {
			if s, err := saga.Subscription(o.sagas, d); err == nil {
				opts.Filter = s.Filter()
			}
		}
	}
	for _, s := range o.app.Subscriptions {
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
	if st.Head, err = o.log.Head(ctx); err != nil {
		return st, err
	}
	if st.Horizon, err = o.log.Horizon(ctx); err != nil {
		return st, err
	}
	subs, err := o.cps.Subscriptions(ctx)
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
	st.Sagas = map[string]map[saga.Status]int{}
	for _, d := range o.app.Sagas {
		if st.Sagas[d.Name()], err = o.sagas.Count(ctx, d.Name()); err != nil {
			return st, err
		}
	}
	return st, nil
}

// Subscription reports one subscription (checkpoint.ErrNotFound if unknown).
func (o *Ops) Subscription(ctx context.Context, name string) (worker.SubscriptionStatus, error) {
	return worker.Inspect(ctx, o.reader, o.cps, name, o.inspectOptions(name))
}

// ErrUnknownProjection: the projection is not registered in this program.
var ErrUnknownProjection = fmt.Errorf("projection not registered in this program")

// Replay rebuilds a projection registered in this program: it resets it
// (running runners pick it up from the start) and, with catchUp, runs it
// here until it has caught up, printing progress.
func (o *Ops) Replay(ctx context.Context, name string, catchUp bool, progress io.Writer) (projection.ReplayResult, error) {
	p := o.app.projection(name)
	if p == nil {
		return projection.ReplayResult{}, fmt.Errorf("%w: %q (replay it from the binary that registers it)", ErrUnknownProjection, name)
	}
	return projection.Replay(ctx, projection.ReplayConfig{
		Projection: p, Log: o.reader, Checkpoints: o.cps, CatchUp: catchUp, Progress: progress, Logger: o.logger,
		Worker: worker.Config{MemberID: o.cfg.MemberID, LeaseTTL: o.cfg.LeaseTTL, Logger: o.logger},
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
	e, found, err := eventlog.ReadAt(ctx, o.reader, dl.Position)
	if err != nil || !found {
		return dl, nil, err
	}
	return dl, &e, nil
}

// RetryDeadLetter asks the owner to re-deliver the dead letter's key.
func (o *Ops) RetryDeadLetter(ctx context.Context, sub string, id int64) error {
	return o.admin().Retry(ctx, sub, id)
}

// DiscardDeadLetter drops a dead letter unhandled.
func (o *Ops) DiscardDeadLetter(ctx context.Context, sub string, id int64) error {
	return o.admin().Discard(ctx, sub, id)
}

func (o *Ops) admin() worker.DeadLetterAdmin { return worker.DeadLetterAdmin{Store: o.cps} }

func (o *Ops) sagaAdmin() saga.Admin { return saga.Admin{Store: o.sagas, Sagas: o.app.Sagas} }

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
	h, err := o.log.Horizon(ctx)
	if err != nil {
		return Readiness{Reasons: []string{"database: " + err.Error()}}
	}
	if h.Held && h.Age > o.cfg.ReadyMaxHorizon {
		reasons = append(reasons, fmt.Sprintf("log horizon held for %v by pid %d (%s): readers are stalled",
			h.Age.Round(time.Millisecond), h.PID, h.State))
	}
	for _, name := range o.registered() {
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

// registered lists the subscription names this program runs.
func (o *Ops) registered() []string {
	var out []string
	for _, p := range o.app.Projections {
		out = append(out, p.Name())
	}
	for _, d := range o.app.Sagas {
		out = append(out, saga.SubscriptionName(d.Name()))
	}
	for _, s := range o.app.Subscriptions {
		out = append(out, s.Name())
	}
	slices.Sort(out)
	return out
}

package projection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
)

// Option declares part of a projection.
type Option func(*Projection)

// Worker types a projection's options use, here so that a projection needs
// no other import.
type (
	RetryPolicy = worker.RetryPolicy
	KeyFunc     = worker.KeyFunc
	StartFrom   = worker.StartFrom
)

// Where a new projection starts reading.
const (
	FromBeginning = worker.FromBeginning
	FromNow       = worker.FromNow
)

// DefaultRetryPolicy is a projection's retry policy unless Retry says
// otherwise.
var DefaultRetryPolicy = worker.DefaultRetryPolicy

// Permanent marks a handler's error as one retrying cannot fix: the event
// is dead-lettered at once. Permanent(nil) is nil.
func Permanent(err error) error { return worker.Permanent(err) }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool { return worker.IsPermanent(err) }

// TxFunc is a set-up or reset hook, run in the transaction given.
type TxFunc func(ctx context.Context, tx pgx.Tx) error

// Projection is a read model definition, declared with New and options; it
// is read-only afterwards.
type Projection struct {
	name       string
	categories []string
	wopts      []worker.SubscriptionOption
	handlers   map[string]func(ctx context.Context, tx pgx.Tx, e eventlog.Event) error
	setup      TxFunc
	reset      TxFunc
	errs       []error

	version    int    // Version; 0: replayed in place
	liveSchema string // Schema

	handled atomic.Int64
	skipped atomic.Int64
}

// New declares a projection. The name is its subscription's name.
// Declaration mistakes (a bad name, two handlers for one type, a Go type
// without an event type name) are reported by Err.
//
//	p := projection.New("order_summary",
//		projection.Categories("order"),
//		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[OrderPlaced]) error { … }),
//		projection.OnSetup(createTables),
//		projection.OnReset(truncateTables),
//	)
func New(name string, opts ...Option) *Projection {
	p := &Projection{name: name, handlers: map[string]func(context.Context, pgx.Tx, eventlog.Event) error{}}
	if err := checkpoint.ValidateBaseName(name); err != nil {
		p.errs = append(p.errs, err)
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// On handles events of T's declared type (its EventType method; see
// eventlog.Named), decoded once into an eventlog.Envelope[T]; the handler
// writes the read model through tx. Data that does not decode is a
// permanent failure.
func On[T any](fn func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[T]) error) Option {
	return func(p *Projection) {
		name, err := eventlog.TypeName[T]()
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("projection %s: %w", p.name, err))
			return
		}
		addHandler(p, name, fn)
	}
}

// OnType is On for an event type named at run time (the string form). T
// may declare no name; one that declares another is refused
// (eventlog.ErrTypeMismatch).
func OnType[T any](eventType string, fn func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[T]) error) Option {
	return func(p *Projection) {
		if err := eventlog.CheckTypeName[T](eventType); err != nil {
			p.errs = append(p.errs, fmt.Errorf("projection %s: handler for %q: %w", p.name, eventType, err))
			return
		}
		addHandler(p, eventType, fn)
	}
}

func addHandler[T any](p *Projection, eventType string, fn func(context.Context, pgx.Tx, eventlog.Envelope[T]) error) {
	if _, dup := p.handlers[eventType]; dup {
		p.errs = append(p.errs, fmt.Errorf("projection %s: two handlers for %q", p.name, eventType))
		return
	}
	if fn == nil {
		p.errs = append(p.errs, fmt.Errorf("projection %s: nil handler for %q", p.name, eventType))
		return
	}
	p.handlers[eventType] = func(ctx context.Context, tx pgx.Tx, e eventlog.Event) error {
		env, err := eventlog.Decode[T](e)
		if err != nil {
			return worker.Permanent(fmt.Errorf("projection %s: %w", p.name, err))
		}
		return fn(ctx, tx, env)
	}
}

// Categories limits the projection to these stream categories. Without
// it, the log is filtered by the handled event types.
func Categories(categories ...string) Option {
	return func(p *Projection) { p.categories = append(p.categories, categories...) }
}

// OnSetup declares the read model's schema set-up, run by Setup (at `runner
// migrate` and on start). It must be idempotent (CREATE … IF NOT EXISTS).
func OnSetup(fn TxFunc) Option { return func(p *Projection) { p.setup = fn } }

// OnReset declares how to empty the read model for a replay (e.g. TRUNCATE
// its tables); it runs in the transaction that resets the checkpoints.
func OnReset(fn TxFunc) Option { return func(p *Projection) { p.reset = fn } }

// Partitions is the partition count, fixed when the projection first runs
// (default worker.DefaultPartitions).
func Partitions(n int) Option { return wopt(worker.Partitions(n)) }

// Key is the partition key (default: the stream id). Events with equal
// keys are handled in order by one transaction at a time.
func Key(fn KeyFunc) Option { return wopt(worker.Key(fn)) }

// Retry is how a failed event is retried before it is dead-lettered.
func Retry(rp RetryPolicy) Option { return wopt(worker.Retry(rp)) }

// BatchSize and BatchMaxDuration bound one transaction.
func BatchSize(n int) Option { return wopt(worker.BatchSize(n)) }

// BatchMaxDuration: see BatchSize.
func BatchMaxDuration(d time.Duration) Option { return wopt(worker.BatchMaxDuration(d)) }

// MaxDeadLetters caps the projection's dead letters.
func MaxDeadLetters(n int) Option { return wopt(worker.MaxDeadLetters(n)) }

// Start says where a new projection starts (default FromBeginning).
func Start(from StartFrom) Option { return wopt(worker.Start(from)) }

func wopt(o worker.SubscriptionOption) Option {
	return func(p *Projection) { p.wopts = append(p.wopts, o) }
}

// Name returns the projection's name.
func (p *Projection) Name() string { return p.name }

// Err reports registration mistakes (bad names, duplicate handlers, a bad
// live schema).
func (p *Projection) Err() error {
	errs := slices.Clone(p.errs)
	if len(p.handlers) == 0 {
		errs = append(errs, fmt.Errorf("projection %s: no handlers", p.name))
	}
	if p.Versioned() {
		if _, err := p.liveSchemaName(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Types returns the handled event types, sorted.
func (p *Projection) Types() []string {
	var ts []string
	for t := range p.handlers {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// Filter is the log filter the projection reads with: its categories, or
// else the handled types (read through an eventlog.UpcastStore, as the
// runtime does, the stored types that upcast into them are read too).
func (p *Projection) Filter() eventlog.Filter {
	if len(p.categories) > 0 {
		return eventlog.Filter{Categories: slices.Clone(p.categories)}
	}
	return eventlog.Filter{Types: p.Types()}
}

// Stats counts deliveries in this process.
type Stats struct {
	Handled int64 // events given to a handler
	Skipped int64 // events of the projection's categories with no handler
}

// Stats returns this process's counters.
func (p *Projection) Stats() Stats {
	return Stats{Handled: p.handled.Load(), Skipped: p.skipped.Load()}
}

// Subscription returns the worker subscription that runs the projection.
// A versioned projection has none: each of its builds runs as a
// subscription of its own, which Builds starts (ErrVersioned).
func (p *Projection) Subscription() (worker.Subscription, error) {
	if err := p.Err(); err != nil {
		return worker.Subscription{}, err
	}
	if p.Versioned() {
		return worker.Subscription{}, fmt.Errorf("projection %s: %w", p.name, ErrVersioned)
	}
	return p.subscription(p.name, worker.OnAny(p.handle)), nil
}

// subscription is the projection's worker subscription under a name, with
// extra options (a build's handler and BeforeTx hook).
func (p *Projection) subscription(name string, extra ...worker.SubscriptionOption) worker.Subscription {
	opts := append([]worker.SubscriptionOption{worker.Filter(p.Filter()), worker.Mode(worker.Transactional)}, p.wopts...)
	return worker.NewSubscription(name, append(opts, extra...)...)
}

func (p *Projection) handle(ctx context.Context, d *worker.Delivery) error {
	e := d.Event
	h, ok := p.handlers[e.Type]
	if !ok {
		p.skipped.Add(1)
		return nil
	}
	p.handled.Add(1)
	return h(ctx, d.Tx, e)
}

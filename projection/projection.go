package projection

import (
	"context"
	"encoding/json"
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

// Options configure a projection's subscription.
type Options struct {
	// Categories limits the projection to these stream categories. With
	// none, the log is filtered by the handled event types instead.
	Categories []string
	// Partitions (fixed at creation), Key, Retry, BatchSize,
	// BatchMaxDuration and MaxDeadLetters: see worker.Subscription.
	Partitions       int
	Key              worker.KeyFunc
	Retry            worker.RetryPolicy
	BatchSize        int
	BatchMaxDuration time.Duration
	MaxDeadLetters   int
	// Start: a new projection reads from the beginning unless FromNow.
	Start worker.StartFrom
}

// TxFunc is a set-up or reset hook, run in the transaction given.
type TxFunc func(ctx context.Context, tx pgx.Tx) error

// Projection is a read model definition. Build it with New, Handle,
// OnSetup, OnReset and Upcast before running it; it is then read-only.
type Projection struct {
	name      string
	opts      Options
	handlers  map[string]func(ctx context.Context, tx pgx.Tx, e eventlog.Event) error
	upcasters eventlog.Upcasters
	setup     TxFunc
	reset     TxFunc
	errs      []error

	handled atomic.Int64
	skipped atomic.Int64
}

// New declares a projection. The name is its subscription's name.
func New(name string, opts Options) *Projection {
	p := &Projection{name: name, opts: opts, handlers: map[string]func(context.Context, pgx.Tx, eventlog.Event) error{}}
	if err := checkpoint.ValidateName(name); err != nil {
		p.errs = append(p.errs, err)
	}
	return p
}

// Name returns the projection's name.
func (p *Projection) Name() string { return p.name }

// Handle registers the handler of one event type. The event's data is
// decoded into a T once; the handler writes the read model through tx.
func Handle[T any](p *Projection, eventType string, fn func(ctx context.Context, tx pgx.Tx, e eventlog.Event, v T) error) {
	if err := eventlog.ValidateEventType(eventType); err != nil {
		p.errs = append(p.errs, fmt.Errorf("projection %s: handler for %q: %w", p.name, eventType, err))
		return
	}
	if _, dup := p.handlers[eventType]; dup {
		p.errs = append(p.errs, fmt.Errorf("projection %s: two handlers for %q", p.name, eventType))
		return
	}
	if fn == nil {
		p.errs = append(p.errs, fmt.Errorf("projection %s: nil handler for %q", p.name, eventType))
		return
	}
	p.handlers[eventType] = func(ctx context.Context, tx pgx.Tx, e eventlog.Event) error {
		var v T
		if err := json.Unmarshal(e.Data, &v); err != nil {
			return worker.Permanent(fmt.Errorf("projection %s: decode %s event %s into %T: %w", p.name, e.Type, e.ID, v, err))
		}
		return fn(ctx, tx, e, v)
	}
}

// Upcast registers an upcaster applied before decoding.
func (p *Projection) Upcast(u eventlog.Upcaster) {
	if err := p.upcasters.Add(u); err != nil {
		p.errs = append(p.errs, fmt.Errorf("projection %s: %w", p.name, err))
	}
}

// OnSetup declares the read model's schema set-up, run by Setup (at `runner
// migrate` and on start). It must be idempotent (CREATE … IF NOT EXISTS).
func (p *Projection) OnSetup(fn TxFunc) { p.setup = fn }

// OnReset declares how to empty the read model for a replay (e.g. TRUNCATE
// its tables); it runs in the transaction that resets the checkpoints.
func (p *Projection) OnReset(fn TxFunc) { p.reset = fn }

// Err reports registration mistakes (bad names, duplicate handlers).
func (p *Projection) Err() error {
	if len(p.handlers) == 0 {
		return errors.Join(append(slices.Clone(p.errs), fmt.Errorf("projection %s: no handlers", p.name))...)
	}
	return errors.Join(p.errs...)
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
// else the handled types and the stored types that upcast into them.
func (p *Projection) Filter() eventlog.Filter {
	if len(p.opts.Categories) > 0 {
		return eventlog.Filter{Categories: slices.Clone(p.opts.Categories)}
	}
	types := p.Types()
	types = append(types, p.upcasters.Sources(types)...)
	slices.Sort(types)
	return eventlog.Filter{Types: types}
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
func (p *Projection) Subscription() (worker.Subscription, error) {
	if err := p.Err(); err != nil {
		return worker.Subscription{}, err
	}
	return worker.Subscription{
		Name:             p.name,
		Filter:           p.Filter(),
		Start:            p.opts.Start,
		Partitions:       p.opts.Partitions,
		Key:              p.opts.Key,
		Handler:          p.handle,
		Retry:            p.opts.Retry,
		Mode:             worker.Transactional,
		BatchSize:        p.opts.BatchSize,
		BatchMaxDuration: p.opts.BatchMaxDuration,
		MaxDeadLetters:   p.opts.MaxDeadLetters,
	}, nil
}

func (p *Projection) handle(ctx context.Context, d *worker.Delivery) error {
	e := d.Event
	if err := p.upcasters.Apply(&e); err != nil {
		return worker.Permanent(err)
	}
	h, ok := p.handlers[e.Type]
	if !ok {
		p.skipped.Add(1)
		return nil
	}
	p.handled.Add(1)
	return h(ctx, d.Tx, e)
}

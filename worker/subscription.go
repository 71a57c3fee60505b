package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/causewayhq/causeway/eventlog"
)

// Subscription declares a consumer group: a name, the events it reads and
// its handlers, and optional settings. Build it with NewSubscription:
//
//	audit := worker.NewSubscription("audit",
//		worker.On(func(ctx context.Context, d *worker.Delivery, e eventlog.Envelope[OrderPlaced]) error { … }),
//		worker.Mode(worker.AtLeastOnce),
//	)
//
// A Subscription is a value: declare it once, then give it to New.
type Subscription struct {
	s        subscription
	handlers map[string]Handler
	types    []string // handled types, in declaration order
	any      Handler
	filter   bool // Filter or Categories given
	errs     []error
}

// SubscriptionOption declares part of a Subscription.
type SubscriptionOption func(*Subscription)

// NewSubscription declares a subscription. The name identifies it in
// storage (checkpoints, leases, dead letters). Mistakes (a bad name, no
// handler, two handlers for one type) are reported by Err and by New.
func NewSubscription(name string, opts ...SubscriptionOption) Subscription {
	s := Subscription{s: subscription{Name: name}, handlers: map[string]Handler{}}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// Name is the subscription's name.
func (s Subscription) Name() string { return s.s.Name }

// Types returns the event types with a typed handler, sorted.
func (s Subscription) Types() []string {
	ts := slices.Clone(s.types)
	slices.Sort(ts)
	return ts
}

// Filter is the log filter the subscription reads with: the one given
// (Filter, Categories); else, when it has typed handlers only, their types
// (a reader through an eventlog.UpcastStore also reads the stored types
// that upcast into them); else everything.
func (s Subscription) Filter() eventlog.Filter {
	switch {
	case s.filter:
		return s.s.Filter
	case s.any == nil && len(s.types) > 0:
		return eventlog.Filter{Types: s.Types()}
	}
	return eventlog.Filter{}
}

// Err reports declaration mistakes.
func (s Subscription) Err() error {
	errs := slices.Clone(s.errs)
	if len(s.handlers) == 0 && s.any == nil {
		errs = append(errs, fmt.Errorf("%w %q: no handler (On, OnType or OnAny)", ErrInvalidSubscription, s.s.Name))
	}
	if err := s.build(nil).withDefaults().validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Handler is the handler the worker runs for this subscription (before
// Config.Middleware): it dispatches by event type to the typed handlers and
// OnAny. For test kits that deliver events themselves.
func (s Subscription) Handler() Handler { return s.dispatch() }

// build is the engine's view: one handler dispatching by type, wrapped.
func (s Subscription) build(mw func(string, Handler) Handler) subscription {
	out := s.s
	out.Filter = s.Filter()
	out.Handler = s.dispatch()
	if mw != nil {
		out.Handler = mw(out.Name, out.Handler)
	}
	return out
}

func (s Subscription) dispatch() Handler {
	if len(s.handlers) == 0 {
		return s.any
	}
	handlers, fallback := s.handlers, s.any
	return func(ctx context.Context, d *Delivery) error {
		if h, ok := handlers[d.Event.Type]; ok {
			return h(ctx, d)
		}
		if fallback != nil {
			return fallback(ctx, d)
		}
		return nil // read through a category filter, not handled here
	}
}

func (s *Subscription) bad(format string, args ...any) {
	s.errs = append(s.errs, fmt.Errorf("%w %q: %s", ErrInvalidSubscription, s.s.Name, fmt.Sprintf(format, args...)))
}

// badErr records err (kept matchable with errors.Is) as a declaration mistake.
func (s *Subscription) badErr(what string, err error) {
	s.errs = append(s.errs, fmt.Errorf("%w %q: %s: %w", ErrInvalidSubscription, s.s.Name, what, err))
}

// On handles events of T's declared type (its EventType method; see
// eventlog.Named), decoded into an eventlog.Envelope[T]. Data that does not
// decode is a permanent failure.
func On[T any](fn func(ctx context.Context, d *Delivery, e eventlog.Envelope[T]) error) SubscriptionOption {
	return func(s *Subscription) {
		name, err := eventlog.TypeName[T]()
		if err != nil {
			s.badErr("On", err)
			return
		}
		addTyped(s, name, fn)
	}
}

// OnType is On for an event type named at run time (the string form). T
// may declare no name (a map, json.RawMessage); one that declares another
// name is refused (eventlog.ErrTypeMismatch).
func OnType[T any](eventType string, fn func(ctx context.Context, d *Delivery, e eventlog.Envelope[T]) error) SubscriptionOption {
	return func(s *Subscription) {
		if err := eventlog.CheckTypeName[T](eventType); err != nil {
			s.badErr("OnType", err)
			return
		}
		addTyped(s, eventType, fn)
	}
}

func addTyped[T any](s *Subscription, name string, fn func(context.Context, *Delivery, eventlog.Envelope[T]) error) {
	if fn == nil {
		s.bad("nil handler for %q", name)
		return
	}
	if _, dup := s.handlers[name]; dup {
		s.bad("two handlers for %q", name)
		return
	}
	s.types = append(s.types, name)
	s.handlers[name] = func(ctx context.Context, d *Delivery) error {
		e, err := eventlog.Decode[T](d.Event)
		if err != nil {
			return Permanent(fmt.Errorf("subscription %s: %w", d.Subscription, err))
		}
		return fn(ctx, d, e)
	}
}

// OnAny handles every event the subscription reads that no typed handler
// takes, raw. Alone, it makes the subscription read the whole log (narrow
// it with Categories or Filter).
func OnAny(h Handler) SubscriptionOption {
	return func(s *Subscription) {
		if h == nil || s.any != nil {
			s.bad("OnAny: nil or given twice")
			return
		}
		s.any = h
	}
}

// Categories limits the subscription to streams of these categories.
func Categories(categories ...string) SubscriptionOption {
	return func(s *Subscription) {
		s.filter = true
		s.s.Filter.Categories = append(s.s.Filter.Categories, categories...)
	}
}

// Filter sets the log filter (categories and types) explicitly.
func Filter(f eventlog.Filter) SubscriptionOption {
	return func(s *Subscription) { s.filter, s.s.Filter = true, f }
}

// Start says where a new subscription starts (default FromBeginning).
func Start(from StartFrom) SubscriptionOption { return func(s *Subscription) { s.s.Start = from } }

// Partitions is the partition count, fixed when the subscription is first
// registered (default DefaultPartitions).
func Partitions(n int) SubscriptionOption { return func(s *Subscription) { s.s.Partitions = n } }

// Key is the partition key of an event (default StreamKey).
func Key(fn KeyFunc) SubscriptionOption { return func(s *Subscription) { s.s.Key = fn } }

// Retry is how a failed event is retried before it is dead-lettered
// (default DefaultRetryPolicy).
func Retry(p RetryPolicy) SubscriptionOption { return func(s *Subscription) { s.s.Retry = p } }

// Mode is how the checkpoint moves with the handler's effects (default
// Transactional).
func Mode(m CommitMode) SubscriptionOption { return func(s *Subscription) { s.s.Mode = m } }

// BatchSize and BatchMaxDuration bound one batch (one transaction in
// transactional mode): a batch ends at whichever comes first, so a
// transaction never holds the log's horizon back for long.
func BatchSize(n int) SubscriptionOption { return func(s *Subscription) { s.s.BatchSize = n } }

// BatchMaxDuration: see BatchSize.
func BatchMaxDuration(d time.Duration) SubscriptionOption {
	return func(s *Subscription) { s.s.BatchMaxDuration = d }
}

// Flush sets how often an at-least-once subscription flushes its
// checkpoint: every n events or every interval, whichever comes first.
func Flush(n int, interval time.Duration) SubscriptionOption {
	return func(s *Subscription) { s.s.FlushEvents, s.s.FlushInterval = n, interval }
}

// MaxDeadLetters caps the subscription's dead letters; at the cap a failing
// partition halts visibly instead of dead-lettering more.
func MaxDeadLetters(n int) SubscriptionOption {
	return func(s *Subscription) { s.s.MaxDeadLetters = n }
}

// With returns a copy of s with more options applied (a runner tuning a
// subscription another package declared, e.g. a saga's).
func (s Subscription) With(opts ...SubscriptionOption) Subscription {
	s.handlers = maps.Clone(s.handlers)
	s.types = slices.Clone(s.types)
	s.errs = slices.Clone(s.errs)
	s.s.Filter.Categories = slices.Clone(s.s.Filter.Categories)
	for _, o := range opts {
		o(&s)
	}
	return s
}

// Partitions is the subscription's partition count (DefaultPartitions
// unless the Partitions option set it).
func (s Subscription) Partitions() int { return s.build(nil).withDefaults().Partitions }

// MaxDeadLetters is the subscription's dead-letter cap.
func (s Subscription) MaxDeadLetters() int { return s.build(nil).withDefaults().MaxDeadLetters }

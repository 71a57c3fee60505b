package eventlog

import (
	"context"
	"errors"
	"fmt"
)

// ErrUnknownEventType is returned by a fold that meets an event type it has
// no evolve function for (unless IgnoreUnknown).
var ErrUnknownEventType = errors.New("eventlog: fold has no evolve function for the event type")

// Fold folds a stream's events into a state S: the read side of a command
// handler in an event-sourced app (load the stream, decide from its state,
// append with the version it was loaded at). Declare it once with NewFold
// and Evolve options, and use it concurrently.
//
//	account := eventlog.NewFold(
//		eventlog.Evolve(func(a Account, e eventlog.Envelope[Deposited]) Account { a.Balance += e.Data.Amount; return a }),
//		eventlog.Evolve(func(a Account, e eventlog.Envelope[Frozen]) Account { a.Frozen = true; return a }),
//	)
//	_, err := account.Decide(ctx, log, "account-7", func(ctx context.Context, a Account) ([]eventlog.Named, error) {
//		if a.Frozen || a.Balance < 30 {
//			return nil, ErrRefused
//		}
//		return []eventlog.Named{Withdrawn{Amount: 30}}, nil
//	})
//
// Upcasting is the store's: give a fold the runtime's log (an UpcastStore)
// and it evolves from current shapes only.
type Fold[S any] struct {
	initial       S
	evolve        map[string]func(S, Event) (S, error)
	ignoreUnknown bool
	errs          []error
}

// FoldOption declares part of a Fold.
type FoldOption[S any] func(*Fold[S])

// NewFold declares a fold. Declaration mistakes (a type without a name, two
// evolve functions for one type) are reported by Err, Load and Decide.
func NewFold[S any](opts ...FoldOption[S]) *Fold[S] {
	f := &Fold[S]{evolve: map[string]func(S, Event) (S, error){}}
	for _, o := range opts {
		o(f)
	}
	return f
}

// Evolve applies events of E's declared type (its EventType method) to the
// state. It should be pure: a fold may run it again on every load.
func Evolve[S, E any](fn func(state S, e Envelope[E]) S) FoldOption[S] {
	return func(f *Fold[S]) {
		name, err := TypeName[E]()
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("eventlog: fold: %w", err))
			return
		}
		addEvolve(f, name, fn)
	}
}

// EvolveType is Evolve for an event type named at run time (the string
// form). E may declare no name; if it declares another, that is
// ErrTypeMismatch.
func EvolveType[S, E any](eventType string, fn func(state S, e Envelope[E]) S) FoldOption[S] {
	return func(f *Fold[S]) {
		if err := CheckTypeName[E](eventType); err != nil {
			f.errs = append(f.errs, fmt.Errorf("eventlog: fold: %w", err))
			return
		}
		addEvolve(f, eventType, fn)
	}
}

func addEvolve[S, E any](f *Fold[S], name string, fn func(S, Envelope[E]) S) {
	if fn == nil {
		f.errs = append(f.errs, fmt.Errorf("eventlog: fold: nil evolve function for %q", name))
		return
	}
	if _, dup := f.evolve[name]; dup {
		f.errs = append(f.errs, fmt.Errorf("eventlog: fold: two evolve functions for %q", name))
		return
	}
	f.evolve[name] = func(s S, e Event) (S, error) {
		env, err := Decode[E](e)
		if err != nil {
			return s, err
		}
		return fn(s, env), nil
	}
}

// InitialState is the state before the stream's first event (default: the
// zero S).
func InitialState[S any](s S) FoldOption[S] { return func(f *Fold[S]) { f.initial = s } }

// IgnoreUnknown makes the fold skip event types it has no evolve function
// for; by default they are ErrUnknownEventType, so a new event type cannot
// be silently left out of a decision.
func IgnoreUnknown[S any]() FoldOption[S] { return func(f *Fold[S]) { f.ignoreUnknown = true } }

// Err reports declaration mistakes.
func (f *Fold[S]) Err() error {
	if len(f.evolve) == 0 && len(f.errs) == 0 {
		return errors.New("eventlog: fold: no evolve functions")
	}
	return errors.Join(f.errs...)
}

// Folded is a stream's state and the version it reflects (0: no stream).
type Folded[S any] struct {
	State   S
	Version int64
}

// Load reads the stream from the start and folds it.
func (f *Fold[S]) Load(ctx context.Context, s Store, streamID string) (Folded[S], error) {
	out := Folded[S]{State: f.initial}
	if err := f.Err(); err != nil {
		return out, err
	}
	for e, err := range s.ReadStream(ctx, streamID, ReadStreamOptions{}) {
		if err != nil {
			return out, fmt.Errorf("eventlog: fold %s: %w", streamID, err)
		}
		if uerr := e.UpcastErr(); uerr != nil {
			return out, fmt.Errorf("eventlog: fold %s: %w", streamID, uerr)
		}
		out.Version = e.Version
		ev, ok := f.evolve[e.Type]
		if !ok {
			if f.ignoreUnknown {
				continue
			}
			return out, fmt.Errorf("eventlog: fold %s: %w: %q (event %d)", streamID, ErrUnknownEventType, e.Type, e.Version)
		}
		if out.State, err = ev(out.State, e); err != nil {
			return out, fmt.Errorf("eventlog: fold %s: %w", streamID, err)
		}
	}
	return out, nil
}

// DecideOption tunes the append of a Decide.
type DecideOption func(*decideConfig)

type decideConfig struct{ md Metadata }

// WithMetadata sets the metadata of every event a Decide appends.
func WithMetadata(md Metadata) DecideOption { return func(c *decideConfig) { c.md = md } }

// Decide loads the stream, asks decide for the events to append given its
// state, and appends them with the loaded version as the expected version.
// A stream that moved meanwhile is the usual ErrWrongExpectedVersion
// (nothing appended; load and decide again to retry). No events: nothing is
// appended and the result's NextExpectedVersion is the loaded version.
func (f *Fold[S]) Decide(ctx context.Context, s Store, streamID string,
	decide func(ctx context.Context, state S) ([]Named, error), opts ...DecideOption) (AppendResult, error) {
	var cfg decideConfig
	for _, o := range opts {
		o(&cfg)
	}
	cur, err := f.Load(ctx, s, streamID)
	if err != nil {
		return AppendResult{}, err
	}
	vs, err := decide(ctx, cur.State)
	if err != nil || len(vs) == 0 {
		return AppendResult{NextExpectedVersion: cur.Version}, err
	}
	events, err := EncodeAll(vs...)
	if err != nil {
		return AppendResult{}, err
	}
	for i := range events {
		events[i].Metadata = cfg.md
	}
	return s.Append(ctx, streamID, Exactly(cur.Version), events...)
}

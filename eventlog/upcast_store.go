package eventlog

import (
	"context"
	"iter"
	"slices"
)

// UpcastStore is a Store whose reads return events upcast to their current
// type and shape. It is how upcasters reach every consumer of the log: the
// runtime hands the same UpcastStore to subscriptions, projections, saga
// starts and waits, dead-letter retries and folds, so none of them ever sees
// an old shape. Appends pass through unchanged (new events are written in
// the current shape).
//
// A read filtered by type also reads the stored types that upcast into the
// wanted ones, and applies the filter to the upcast type: a filter on
// "OrderPlaced" returns events stored as "OrderPlaced.v1" (as OrderPlaced),
// and a filter on "OrderPlaced.v1" returns nothing once an upcaster from
// it exists.
type UpcastStore struct {
	Store
	ups *Upcasters
}

// WithUpcasters returns s reading through the given upcasters (see
// UpcastStore). Two upcasters from one type, or an invalid type name, are
// an error.
func WithUpcasters(s Store, ups ...Upcaster) (*UpcastStore, error) {
	u := &Upcasters{}
	for _, up := range ups {
		if err := u.Add(up); err != nil {
			return nil, err
		}
	}
	return &UpcastStore{Store: s, ups: u}, nil
}

// Unwrap returns the store beneath.
func (s *UpcastStore) Unwrap() Store { return s.Store }

// Tailer returns the tailer of the store beneath (nil if it has none), so an
// UpcastStore over a postgres or memory store is a worker.Log.
func (s *UpcastStore) Tailer() *Tailer {
	if t, ok := s.Store.(interface{ Tailer() *Tailer }); ok {
		return t.Tailer()
	}
	return nil
}

// readFilter widens a type filter to the stored types that upcast into it.
func (s *UpcastStore) readFilter(f Filter) Filter {
	if len(f.Types) == 0 {
		return f
	}
	src := s.ups.Sources(f.Types)
	if len(src) == 0 {
		return f
	}
	f.Types = append(slices.Clone(f.Types), src...)
	return f
}

// ReadStream upcasts each event of the stream; an upcaster's failure ends
// the read with that error.
func (s *UpcastStore) ReadStream(ctx context.Context, streamID string, opts ReadStreamOptions) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for e, err := range s.Store.ReadStream(ctx, streamID, opts) {
			if err == nil {
				err = s.ups.Apply(&e)
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// ReadBatch reads with the widened filter and returns the events, upcast,
// that match the filter given. Next and CaughtUp are the store's.
func (s *UpcastStore) ReadBatch(ctx context.Context, after Position, filter Filter, limit int) (Batch, error) {
	b, err := s.Store.ReadBatch(ctx, after, s.readFilter(filter), limit)
	if err != nil {
		return b, err
	}
	kept := b.Events[:0]
	for _, e := range b.Events {
		stored := e
		if err := s.ups.Apply(&e); err != nil {
			// Delivered as stored, carrying the failure, so the consumer
			// fails this event (a dead letter) instead of the whole read.
			stored.upcastErr = err
			kept = append(kept, stored)
			continue
		}
		if filter.Matches(&e) {
			kept = append(kept, e)
		}
	}
	b.Events = kept
	return b, nil
}

// ReadAll is ReadAllBatches over this store's ReadBatch.
func (s *UpcastStore) ReadAll(ctx context.Context, after Position, filter Filter) iter.Seq2[Event, error] {
	return ReadAllBatches(ctx, s.ReadBatch, after, filter)
}

// CountBetween counts with the widened filter.
func (s *UpcastStore) CountBetween(ctx context.Context, from, to Position, filter Filter) (int64, error) {
	return s.Store.CountBetween(ctx, from, to, s.readFilter(filter))
}

package eventlog

import (
	"context"
	"iter"
	"slices"
	"time"
)

// Store is the event log. Implementations: postgres.Store (production) and
// memory.Store (tests); both pass eventlogtest.Run.
type Store interface {
	// Append writes events to one stream atomically if the stream's version
	// satisfies expected. Conflicts match ErrWrongExpectedVersion; bad input
	// matches ErrInvalidEvent and writes nothing.
	Append(ctx context.Context, streamID string, expected ExpectedVersion, events ...EventData) (AppendResult, error)

	// ReadStream yields a stream's events from a version, forwards or
	// backwards, paging internally.
	ReadStream(ctx context.Context, streamID string, opts ReadStreamOptions) iter.Seq2[Event, error]

	// ReadBatch returns up to limit events after a position that match the
	// filter, in global order, and the cursor to continue from.
	ReadBatch(ctx context.Context, after Position, filter Filter, limit int) (Batch, error)

	// ReadAll yields every visible event after a position that matches the
	// filter, in global order, until it has caught up with the head.
	ReadAll(ctx context.Context, after Position, filter Filter) iter.Seq2[Event, error]

	// Head returns the position of the last visible event (Start if none).
	Head(ctx context.Context) (Position, error)

	// PositionAt returns where to read after for the first event (in log
	// order) recorded at or after t to come first: the position of the
	// event before it, or Start when it is the first. When no visible event
	// was recorded at or after t, it returns the head. Only positions of
	// events (or Start) come back, so the answer is safe as a checkpoint.
	// It is an operator's tool (moving a subscription to a time): it may
	// scan the log up to the answer.
	PositionAt(ctx context.Context, t time.Time) (Position, error)

	// CountBetween counts visible events after from and at or before to that
	// match the filter (the lag of a reader at from when to is the head).
	CountBetween(ctx context.Context, from, to Position, filter Filter) (int64, error)
}

// Direction of a stream read.
type Direction int

const (
	Forwards Direction = iota
	Backwards
)

// ReadStreamOptions selects part of a stream. From is the first version to
// return (inclusive): 0 means the start for Forwards and the end for
// Backwards. Limit 0 means no limit.
type ReadStreamOptions struct {
	From      int64
	Direction Direction
	Limit     int
}

// Filter selects events by category and/or type; an empty field matches all.
type Filter struct {
	Categories []string
	Types      []string
}

// Matches reports whether e passes the filter.
func (f Filter) Matches(e *Event) bool {
	if len(f.Categories) > 0 && !slices.Contains(f.Categories, e.Category()) {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	return true
}

// IsZero reports whether the filter matches everything.
func (f Filter) IsZero() bool { return len(f.Categories) == 0 && len(f.Types) == 0 }

// Batch is a page of the global log.
type Batch struct {
	Events []Event
	// Next is where the following read continues: the cursor the read was
	// given, or the position of an event in the log — never a position
	// between or beyond events, so it is safe to store as a checkpoint and
	// to keep across crash recovery and failover (PostgreSQL may hand out
	// the ids of transactions whose WAL was lost again, below any horizon).
	// It is at or after the last event returned; when the batch was not
	// full it moves past the events the filter excluded, up to the last
	// visible event of the log.
	Next Position
	// CaughtUp is true when the batch reached the visible head: there was
	// nothing more to read at the time of the read.
	CaughtUp bool
}

// DefaultBatchSize is the page size ReadAll and ReadStream use.
const DefaultBatchSize = 512

// ReadAt reads the event at a position (found is false when no visible
// event is there, e.g. deleted by retention).
func ReadAt(ctx context.Context, s Store, pos Position) (e Event, found bool, err error) {
	before := Position{TxID: pos.TxID, Seq: pos.Seq - 1}
	b, err := s.ReadBatch(ctx, before, Filter{}, 1)
	if err != nil {
		return Event{}, false, err
	}
	if len(b.Events) == 1 && b.Events[0].Position == pos {
		return b.Events[0], true, nil
	}
	return Event{}, false, nil
}

// ReadAllBatches turns a batch reader into ReadAll: it yields every event
// after a position that matches the filter, batch by batch, until a batch
// reports it caught up with the head.
func ReadAllBatches(ctx context.Context, read func(ctx context.Context, after Position, f Filter, limit int) (Batch, error),
	after Position, filter Filter) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			b, err := read(ctx, after, filter, DefaultBatchSize)
			if err != nil {
				yield(Event{}, err)
				return
			}
			for _, e := range b.Events {
				if !yield(e, nil) {
					return
				}
			}
			if b.CaughtUp {
				return
			}
			after = b.Next
		}
	}
}

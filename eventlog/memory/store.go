// Package memory is an in-memory event store with the same semantics as the
// PostgreSQL store (ordering, expected versions, idempotent ids, validation,
// filters, tailing), for fast unit tests. Every Append is one transaction with
// its own transaction id; appends are serialised, so every committed event is
// visible at once and the horizon is always the next transaction id.
package memory

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
)

// firstTxID mirrors PostgreSQL, where normal transaction ids start at 3.
const firstTxID = 3

// Store is an in-memory event log, safe for concurrent use.
type Store struct {
	mu         sync.RWMutex
	maxPayload int
	events     []eventlog.Event // global order
	streams    map[string][]int // stream id → indexes into events
	ids        map[uuid.UUID]int
	nextTx     uint64
	nextSeq    int64
	now        func() time.Time

	tailerOnce sync.Once
	tailer     *eventlog.Tailer
	stopTailer context.CancelFunc
}

var _ eventlog.Store = (*Store)(nil)

// Options configures a memory store.
type Options struct {
	MaxPayload int                    // default eventlog.DefaultMaxPayload
	Tailer     eventlog.TailerOptions // for Tailer
}

// New returns an empty store.
func New(opts Options) *Store {
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = eventlog.DefaultMaxPayload
	}
	s := &Store{
		maxPayload: opts.MaxPayload,
		streams:    make(map[string][]int),
		ids:        make(map[uuid.UUID]int),
		nextTx:     firstTxID,
		nextSeq:    1,
		now:        time.Now,
	}
	s.tailer = eventlog.NewTailer(s.Head, opts.Tailer)
	return s
}

// Tailer returns the store's tailer, started on first use.
func (s *Store) Tailer() *eventlog.Tailer {
	s.tailerOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.mu.Lock()
		s.stopTailer = cancel
		s.mu.Unlock()
		go func() { _ = s.tailer.Run(ctx) }()
	})
	return s.tailer
}

// Close stops the tailer.
func (s *Store) Close() {
	s.mu.Lock()
	stop := s.stopTailer
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Append implements eventlog.Store.
func (s *Store) Append(ctx context.Context, streamID string, expected eventlog.ExpectedVersion, events ...eventlog.EventData) (eventlog.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventlog.AppendResult{}, err
	}
	if !expected.Valid() {
		return eventlog.AppendResult{}, fmt.Errorf("eventlog/memory: append to %q: invalid expected version %d", streamID, int64(expected))
	}
	prepared, err := eventlog.Prepare(streamID, events, s.maxPayload, uuid.New)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	s.mu.Lock()
	res, err := s.appendLocked(streamID, expected, prepared)
	s.mu.Unlock()
	if err == nil && !res.Duplicate {
		s.tailer.Wake()
	}
	return res, err
}

func (s *Store) appendLocked(streamID string, expected eventlog.ExpectedVersion, prepared []eventlog.PreparedEvent) (eventlog.AppendResult, error) {
	stream := s.streams[streamID]
	current := int64(len(stream))

	// Idempotent retry: every id already stored in this stream.
	found, here := 0, 0
	var dup eventlog.AppendResult
	for _, p := range prepared {
		if i, ok := s.ids[p.ID]; ok {
			found++
			if s.events[i].StreamID == streamID {
				here++
				dup.Positions = append(dup.Positions, s.events[i].Position)
				dup.IDs = append(dup.IDs, p.ID)
				dup.NextExpectedVersion = max(dup.NextExpectedVersion, s.events[i].Version)
			}
		}
	}
	if found > 0 {
		if found == len(prepared) && here == found {
			dup.Duplicate = true
			return dup, nil
		}
		return eventlog.AppendResult{}, fmt.Errorf("%w: append to %q", eventlog.ErrDuplicateEventID, streamID)
	}
	if !expected.Satisfied(current) {
		return eventlog.AppendResult{}, &eventlog.VersionConflictError{StreamID: streamID, Expected: expected, Actual: current}
	}

	tx := s.nextTx
	s.nextTx++
	now := s.now()
	res := eventlog.AppendResult{NextExpectedVersion: current + int64(len(prepared))}
	for i, p := range prepared {
		e := eventlog.Event{
			ID:         p.ID,
			StreamID:   streamID,
			Version:    current + int64(i) + 1,
			Type:       p.Type,
			Data:       slices.Clone(p.Data),
			Metadata:   cloneMetadata(p.Metadata),
			RecordedAt: now,
			Position:   eventlog.Position{TxID: tx, Seq: s.nextSeq},
		}
		s.nextSeq++
		s.ids[e.ID] = len(s.events)
		s.streams[streamID] = append(s.streams[streamID], len(s.events))
		s.events = append(s.events, e)
		res.Positions = append(res.Positions, e.Position)
		res.IDs = append(res.IDs, e.ID)
	}
	return res, nil
}

func cloneMetadata(m eventlog.Metadata) eventlog.Metadata {
	m.Headers = cloneMap(m.Headers)
	return m
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func clone(e eventlog.Event) eventlog.Event {
	e.Data = slices.Clone(e.Data)
	e.Metadata = cloneMetadata(e.Metadata)
	return e
}

// ReadStream implements eventlog.Store.
func (s *Store) ReadStream(ctx context.Context, streamID string, opts eventlog.ReadStreamOptions) iter.Seq2[eventlog.Event, error] {
	return func(yield func(eventlog.Event, error) bool) {
		if err := eventlog.ValidateStreamID(streamID); err != nil {
			yield(eventlog.Event{}, err)
			return
		}
		s.mu.RLock()
		idx := slices.Clone(s.streams[streamID])
		events := make([]eventlog.Event, 0, len(idx))
		for _, i := range idx {
			events = append(events, clone(s.events[i]))
		}
		s.mu.RUnlock()
		if opts.Direction == eventlog.Backwards {
			slices.Reverse(events)
		}
		n := 0
		for _, e := range events {
			if err := ctx.Err(); err != nil {
				yield(eventlog.Event{}, err)
				return
			}
			if opts.From > 0 {
				if opts.Direction == eventlog.Backwards && e.Version > opts.From ||
					opts.Direction != eventlog.Backwards && e.Version < opts.From {
					continue
				}
			}
			if !yield(e, nil) {
				return
			}
			if n++; opts.Limit > 0 && n == opts.Limit {
				return
			}
		}
	}
}

// ReadBatch implements eventlog.Store.
func (s *Store) ReadBatch(ctx context.Context, after eventlog.Position, filter eventlog.Filter, limit int) (eventlog.Batch, error) {
	if err := ctx.Err(); err != nil {
		return eventlog.Batch{}, err
	}
	if limit <= 0 {
		limit = eventlog.DefaultBatchSize
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	start, _ := slices.BinarySearchFunc(s.events, after, func(e eventlog.Event, p eventlog.Position) int {
		return e.Position.Compare(p)
	})
	b := eventlog.Batch{Next: after}
	for i := start; i < len(s.events); i++ {
		e := &s.events[i]
		if !after.Before(e.Position) || !filter.Matches(e) {
			continue
		}
		b.Events = append(b.Events, clone(*e))
		b.Next = e.Position
		if len(b.Events) == limit {
			return b, nil
		}
	}
	// Caught up: skip the filtered-out events up to the last one stored,
	// never beyond it (as the PostgreSQL store, where ids above the last
	// committed row may be handed out again after crash recovery).
	b.CaughtUp = true
	if n := len(s.events); n > 0 && b.Next.Before(s.events[n-1].Position) {
		b.Next = s.events[n-1].Position
	}
	return b, nil
}

// ReadAll implements eventlog.Store.
func (s *Store) ReadAll(ctx context.Context, after eventlog.Position, filter eventlog.Filter) iter.Seq2[eventlog.Event, error] {
	return eventlog.ReadAllBatches(ctx, s.ReadBatch, after, filter)
}

// Head implements eventlog.Store.
func (s *Store) Head(ctx context.Context) (eventlog.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventlog.Start, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.events) == 0 {
		return eventlog.Start, nil
	}
	return s.events[len(s.events)-1].Position, nil
}

// CountBetween implements eventlog.Store.
func (s *Store) CountBetween(ctx context.Context, from, to eventlog.Position, filter eventlog.Filter) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var n int64
	for i := range s.events {
		e := &s.events[i]
		if from.Before(e.Position) && !to.Before(e.Position) && filter.Matches(e) {
			n++
		}
	}
	return n, nil
}

package saga

import (
	"bytes"

	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
)

// MemoryStore is an in-memory Store for tests, with the PostgreSQL store's
// semantics. Emitted events go to the given event store and enqueued
// messages to the queue store given by MemoryQueues, under the store's
// lock, after checking all of them: what the log or the queue store would
// refuse is refused before anything is written. Neither shares a
// transaction with the store, though: a concurrent writer of an emitted
// stream, or a message id already stored in the second queue a step
// enqueues to, can leave part of a refused outcome written.
type MemoryStore struct {
	mu      sync.Mutex
	log     eventlog.Store
	queues  queue.Store
	now     func() time.Time
	byID    map[uuid.UUID]*Instance
	byCorr  map[[2]string]uuid.UUID
	history map[uuid.UUID][]HistoryEntry
	inbox   map[[2]string][]InboxEntry
	seq     int64
}

var _ Store = (*MemoryStore)(nil)

// NewMemory returns an empty store; log receives emitted events (may be nil
// if no step emits).
func NewMemory(log eventlog.Store, opts ...MemoryOption) *MemoryStore {
	s := &MemoryStore{log: log, now: time.Now, byID: map[uuid.UUID]*Instance{}, byCorr: map[[2]string]uuid.UUID{},
		history: map[uuid.UUID][]HistoryEntry{}, inbox: map[[2]string][]InboxEntry{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// MemoryOption configures a MemoryStore.
type MemoryOption func(*MemoryStore)

// MemoryQueues gives the store a queue store (worker/queue/memory, say) for
// the messages steps enqueue. Without one, an outcome with an enqueue is
// refused.
func MemoryQueues(q queue.Store) MemoryOption {
	return func(s *MemoryStore) { s.queues = q }
}

// MemoryClock makes the store tell the time (what is due, when a lease
// expires, timestamps) by c — the executor's clock — instead of the real
// one.
func MemoryClock(c worker.Clock) MemoryOption {
	return func(s *MemoryStore) { s.now = c.Now }
}

func clone(i Instance) Instance {
	i.State = bytes.Clone(i.State)
	return i
}

// Start implements Store.
func (s *MemoryStore) Start(ctx context.Context, _ pgx.Tx, inst Instance) (bool, error) {
	inst.LeaseOwner, inst.LeaseExpiresAt = "", time.Time{}
	_, created := s.start(inst, 0)
	return created, nil
}

// StartLeased implements Store.
func (s *MemoryStore) StartLeased(ctx context.Context, _ pgx.Tx, inst Instance, owner string, lease time.Duration) (Instance, bool, error) {
	inst.LeaseOwner = owner
	out, created := s.start(inst, lease)
	return out, created, nil
}

func (s *MemoryStore) start(inst Instance, lease time.Duration) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{inst.Type, inst.CorrelationID}
	if _, ok := s.byCorr[key]; ok {
		return Instance{}, false
	}
	inst = clone(inst)
	inst.Version = 1
	inst.CreatedAt, inst.UpdatedAt = s.now(), s.now()
	if inst.LeaseOwner != "" {
		inst.LeaseExpiresAt = s.now().Add(lease)
	}
	s.byID[inst.ID] = &inst
	s.byCorr[key] = inst.ID
	return clone(inst), true
}

// AddInbox implements Store.
func (s *MemoryStore) AddInbox(ctx context.Context, _ pgx.Tx, sagaType, corr string, e eventlog.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{sagaType, corr}
	if id, ok := s.byCorr[key]; ok && s.byID[id].Status.Terminal() {
		return nil // finished: nothing will consume it
	}
	for _, x := range s.inbox[key] {
		if x.EventID == e.ID {
			return nil
		}
	}
	s.inbox[key] = append(s.inbox[key], InboxEntry{EventID: e.ID, Type: e.Type, Position: e.Position})
	if id, ok := s.byCorr[key]; ok {
		if inst := s.byID[id]; inst.Status == StatusWaiting && (inst.WaitEvent == "" || inst.WaitEvent == e.Type) {
			inst.NextAttemptAt = s.now()
		}
	}
	return nil
}

// Inbox implements Store.
func (s *MemoryStore) Inbox(ctx context.Context, sagaType, corr, eventType string) ([]InboxEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []InboxEntry
	for _, x := range s.inbox[[2]string{sagaType, corr}] {
		if x.Type == eventType {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b InboxEntry) int { return a.Position.Compare(b.Position) })
	return out, nil
}

func runnableStatus(st Status) bool {
	return st == StatusRunning || st == StatusWaiting || st == StatusCompensating
}

// Claim implements Store.
func (s *MemoryStore) Claim(ctx context.Context, types []string, owner string, n int, lease time.Duration) ([]Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var due []*Instance
	for _, inst := range s.byID {
		if runnableStatus(inst.Status) && slices.Contains(types, inst.Type) && !inst.NextAttemptAt.IsZero() &&
			!inst.NextAttemptAt.After(now) && (inst.LeaseOwner == "" || inst.LeaseExpiresAt.Before(now)) {
			due = append(due, inst)
		}
	}
	slices.SortFunc(due, func(a, b *Instance) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	var out []Instance
	for _, inst := range due[:min(n, len(due))] {
		inst.LeaseOwner, inst.LeaseExpiresAt = owner, now.Add(lease)
		inst.Version++
		out = append(out, clone(*inst))
	}
	return out, nil
}

// Record implements Store.
func (s *MemoryStore) Record(ctx context.Context, claimed, next Instance, h HistoryEntry, fx Effects, consumed *InboxEntry, keep time.Duration) (Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.byID[claimed.ID]
	if !ok || inst.Version != claimed.Version {
		return Instance{}, fmt.Errorf("%w: %s", ErrLeaseLost, claimed.ID)
	}
	if err := CheckOutcome(next, fx); err != nil {
		return Instance{}, err
	}
	// Everything is checked before anything is written (the log and the
	// queue store have no shared transaction): the emits, then the queues.
	if err := s.checkEmits(ctx, fx.Emits); err != nil {
		return Instance{}, err
	}
	if err := s.checkEnqueues(ctx, fx.Enqueues); err != nil {
		return Instance{}, err
	}
	if err := s.enqueue(ctx, fx.Enqueues); err != nil {
		return Instance{}, err
	}
	if err := s.emit(ctx, fx.Emits); err != nil {
		return Instance{}, err
	}
	if consumed != nil {
		key := [2]string{claimed.Type, claimed.CorrelationID}
		s.inbox[key] = slices.DeleteFunc(s.inbox[key], func(x InboxEntry) bool { return x.EventID == consumed.EventID })
	}
	next = clone(next)
	next, h = StorableOutcome(next, h)
	next.Version = inst.Version + 1
	next.UpdatedAt = s.now()
	next.LeaseOwner, next.LeaseExpiresAt = "", time.Time{}
	if keep > 0 {
		next.LeaseOwner, next.LeaseExpiresAt = claimed.LeaseOwner, s.now().Add(keep)
	}
	if Parked(next) {
		next.LeaseOwner, next.LeaseExpiresAt = "", time.Time{}
		for _, x := range s.inbox[[2]string{claimed.Type, claimed.CorrelationID}] {
			if x.Type == next.WaitEvent {
				next.NextAttemptAt = s.now()
				if keep > 0 {
					next.LeaseOwner, next.LeaseExpiresAt = claimed.LeaseOwner, s.now().Add(keep)
				}
				break
			}
		}
	}
	*inst = next
	if next.Status.Terminal() {
		delete(s.inbox, [2]string{claimed.Type, claimed.CorrelationID})
	}
	if h.Step != "" {
		s.seq++
		h.Seq, h.At = s.seq, s.now()
		s.history[inst.ID] = append(s.history[inst.ID], h)
	}
	return clone(next), nil
}

// checkEmits checks the emitted events as the log would — valid events,
// expected versions — so a refused outcome appends nothing unless another
// writer of the same stream slips in between.
func (s *MemoryStore) checkEmits(ctx context.Context, emits []Emit) error {
	if len(emits) == 0 {
		return nil
	}
	if s.log == nil {
		return fmt.Errorf("saga: memory store has no event store for emitted events")
	}
	versions := map[string]int64{}
	for _, em := range emits {
		// The size limit is the log's own: it alone knows it.
		if _, err := eventlog.Prepare(em.StreamID, em.Events, math.MaxInt, uuid.New); err != nil {
			return RefuseEmit(em, err)
		}
		v, ok := versions[em.StreamID]
		if v < 0 || slices.ContainsFunc(em.Events, func(e eventlog.EventData) bool { return e.ID != uuid.Nil }) {
			// An idempotent re-append may succeed whatever the version:
			// the log decides, and the stream's version is unknown after.
			versions[em.StreamID] = -1
			continue
		}
		if !ok {
			for e, err := range s.log.ReadStream(ctx, em.StreamID, eventlog.ReadStreamOptions{Direction: eventlog.Backwards, Limit: 1}) {
				if err != nil {
					return fmt.Errorf("saga: record: %w", err)
				}
				v = e.Version
			}
		}
		if !em.Expected.Satisfied(v) {
			return RefuseEmit(em, &eventlog.VersionConflictError{StreamID: em.StreamID, Expected: em.Expected, Actual: v})
		}
		versions[em.StreamID] = v + int64(len(em.Events))
	}
	return nil
}

// checkEnqueues checks that every queue enqueued to is declared (the
// messages were checked by CheckOutcome).
func (s *MemoryStore) checkEnqueues(ctx context.Context, enqueues []Enqueue) error {
	for _, eq := range enqueues {
		if s.queues == nil {
			return &RefusedError{Err: fmt.Errorf("enqueue to %q: the memory saga store has no queue store (see MemoryQueues)", eq.Queue), Permanent: true}
		}
		if _, err := s.queues.Queue(ctx, eq.Queue); err != nil {
			if r := RefuseEnqueue(eq, err); r != nil {
				return r
			}
			return fmt.Errorf("saga: record: %w", err)
		}
	}
	return nil
}

// enqueue enqueues the messages, one queue at a time (the queue store's
// transactions end there). Only a message id already stored in a later
// queue can leave the earlier ones enqueued by a refused outcome.
func (s *MemoryStore) enqueue(ctx context.Context, enqueues []Enqueue) error {
	for _, eq := range enqueues {
		if _, err := s.queues.Enqueue(ctx, eq.Queue, eq.Messages...); err != nil {
			if r := RefuseEnqueue(eq, err); r != nil {
				return r
			}
			return fmt.Errorf("saga: record: %w", err)
		}
	}
	return nil
}

// emit appends the emitted events checked by checkEmits, one stream at a
// time (the log has no transactions).
func (s *MemoryStore) emit(ctx context.Context, emits []Emit) error {
	for _, em := range emits {
		if _, err := s.log.Append(ctx, em.StreamID, em.Expected, em.Events...); err != nil {
			if r := RefuseEmit(em, err); r != nil {
				return r
			}
			return fmt.Errorf("saga: record: %w", err)
		}
	}
	return nil
}

// NextDue implements Store.
func (s *MemoryStore) NextDue(ctx context.Context, types []string) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best time.Time
	for _, inst := range s.byID {
		if runnableStatus(inst.Status) && slices.Contains(types, inst.Type) && !inst.NextAttemptAt.IsZero() &&
			(best.IsZero() || inst.NextAttemptAt.Before(best)) {
			best = inst.NextAttemptAt
		}
	}
	return best, !best.IsZero(), nil
}

// Get implements Store.
func (s *MemoryStore) Get(ctx context.Context, id uuid.UUID) (Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.byID[id]
	if !ok {
		return Instance{}, fmt.Errorf("%w: saga %s", ErrNotFound, id)
	}
	return clone(*inst), nil
}

// History implements Store.
func (s *MemoryStore) History(ctx context.Context, id uuid.UUID) ([]HistoryEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history[id]), nil
}

// List implements Store.
func (s *MemoryStore) List(ctx context.Context, q Query) ([]Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Instance
	for _, inst := range s.byID {
		if (q.Type == "" || inst.Type == q.Type) && (q.Status == "" || inst.Status == q.Status) &&
			(q.CorrelationID == "" || inst.CorrelationID == q.CorrelationID) &&
			(q.After == uuid.Nil || bytes.Compare(inst.ID[:], q.After[:]) > 0) {
			out = append(out, clone(*inst))
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	return out[:min(limit, len(out))], nil
}

// Count implements Store.
func (s *MemoryStore) Count(ctx context.Context, sagaType string) (map[Status]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[Status]int{}
	for _, inst := range s.byID {
		if inst.Type == sagaType {
			out[inst.Status]++
		}
	}
	return out, nil
}

// Update implements Store.
func (s *MemoryStore) Update(ctx context.Context, read, next Instance, h HistoryEntry) (Instance, error) {
	read.LeaseOwner = ""
	return s.Record(ctx, read, next, h, Effects{}, nil, 0)
}

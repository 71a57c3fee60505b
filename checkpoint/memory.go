package checkpoint

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
)

// MemoryStore is an in-memory Store with the PostgreSQL store's semantics,
// for tests. Its Tx has no PostgreSQL transaction (Pgx returns nil); its
// dead-letter changes and checkpoint apply atomically at Commit.
type MemoryStore struct {
	mu     sync.Mutex
	now    func() time.Time
	subs   map[string]*memSub
	nextDL int64
	// nextMove numbers move records (move_memory.go).
	nextMove int64
	// discards are the remembered discards (discard_memory.go).
	discards memDiscards
}

type memSub struct {
	sub     Subscription
	parts   []PartitionState
	members map[string]memMember
	dls     map[int64]*DeadLetter
	moves   []MoveRecord // oldest first (move_memory.go)
}

type memMember struct {
	m       Member
	expires time.Time
}

var _ Store = (*MemoryStore)(nil)

var timeZero time.Time

// NewMemory returns an empty store.
func NewMemory() *MemoryStore {
	return &MemoryStore{now: time.Now, subs: make(map[string]*memSub)}
}

func (s *MemoryStore) get(name string) (*memSub, error) {
	m, ok := s.subs[name]
	if !ok {
		return nil, fmt.Errorf("%w: subscription %q", ErrNotFound, name)
	}
	return m, nil
}

// Register implements Store.
func (s *MemoryStore) Register(ctx context.Context, sub Subscription) (Subscription, error) {
	if err := ValidateName(sub.Name); err != nil {
		return Subscription{}, err
	}
	if sub.Partitions < 1 || sub.Partitions > MaxPartitions {
		return Subscription{}, fmt.Errorf("checkpoint: subscription %q: partitions must be 1..%d, got %d", sub.Name, MaxPartitions, sub.Partitions)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.subs[sub.Name]; ok {
		if m.sub.Partitions != sub.Partitions {
			return Subscription{}, fmt.Errorf("%w: %q has %d, registered with %d", ErrPartitionsChanged, sub.Name, m.sub.Partitions, sub.Partitions)
		}
		return m.sub, nil
	}
	sub.CreatedAt = s.now()
	m := &memSub{sub: sub, members: map[string]memMember{}, dls: map[int64]*DeadLetter{}}
	for p := 0; p < sub.Partitions; p++ {
		m.parts = append(m.parts, PartitionState{Partition: p, Checkpoint: sub.StartAt})
	}
	s.subs[sub.Name] = m
	return sub, nil
}

// Subscriptions implements Store.
func (s *MemoryStore) Subscriptions(ctx context.Context) ([]Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Subscription
	for _, m := range s.subs {
		out = append(out, m.sub)
	}
	slices.SortFunc(out, func(a, b Subscription) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Subscription implements Store.
func (s *MemoryStore) Subscription(ctx context.Context, name string) (Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(name)
	if err != nil {
		return Subscription{}, err
	}
	return m.sub, nil
}

// Heartbeat implements Store.
func (s *MemoryStore) Heartbeat(ctx context.Context, sub string, mem Member, ttl time.Duration) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(sub)
	if err != nil {
		return 0, err
	}
	now := s.now()
	m.members[mem.ID] = memMember{m: mem, expires: now.Add(ttl)}
	live := 0
	for _, x := range m.members {
		if x.expires.After(now) {
			live++
		}
	}
	return live, nil
}

// Leave implements Store.
func (s *MemoryStore) Leave(ctx context.Context, sub, member string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, err := s.get(sub); err == nil {
		delete(m.members, member)
	}
	return nil
}

// Members implements Store.
func (s *MemoryStore) Members(ctx context.Context, sub string) ([]Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(sub)
	if err != nil {
		return nil, nil
	}
	var out []Member
	now := s.now()
	for _, x := range m.members {
		if x.expires.After(now) {
			out = append(out, x.m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Claim implements Store.
func (s *MemoryStore) Claim(ctx context.Context, sub, member string, max int, ttl time.Duration) ([]Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(sub)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []Lease
	for i := range m.parts {
		if len(out) >= max {
			break
		}
		p := &m.parts[i]
		if p.Owner != "" && p.LeaseExpiresAt.After(now) {
			continue
		}
		p.Owner, p.Epoch, p.LeaseExpiresAt = member, p.Epoch+1, now.Add(ttl)
		out = append(out, Lease{Subscription: sub, Partition: p.Partition, Owner: member, Epoch: p.Epoch, Checkpoint: p.Checkpoint})
	}
	return out, nil
}

func (m *memSub) holds(l Lease) *PartitionState {
	if l.Partition < 0 || l.Partition >= len(m.parts) {
		return nil
	}
	p := &m.parts[l.Partition]
	if p.Owner != l.Owner || p.Epoch != l.Epoch {
		return nil
	}
	return p
}

// Renew implements Store.
func (s *MemoryStore) Renew(ctx context.Context, leases []Lease, ttl time.Duration) ([]Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Lease
	for _, l := range leases {
		m, err := s.get(l.Subscription)
		if err != nil {
			return nil, err
		}
		if p := m.holds(l); p != nil {
			p.LeaseExpiresAt = s.now().Add(ttl)
			out = append(out, l)
		}
	}
	return out, nil
}

// Release implements Store.
func (s *MemoryStore) Release(ctx context.Context, leases []Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range leases {
		m, err := s.get(l.Subscription)
		if err != nil {
			return err
		}
		if p := m.holds(l); p != nil {
			p.Owner, p.LeaseExpiresAt = "", time.Time{}
		}
	}
	return nil
}

// Partitions implements Store.
func (s *MemoryStore) Partitions(ctx context.Context, sub string) ([]PartitionState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(sub)
	if err != nil {
		return nil, nil
	}
	return slices.Clone(m.parts), nil
}

// Commit implements Store.
func (s *MemoryStore) Commit(ctx context.Context, l Lease, pos eventlog.Position) error {
	tx, _ := s.Begin(ctx)
	return tx.Commit(ctx, l, pos)
}

// Begin implements Store.
func (s *MemoryStore) Begin(ctx context.Context) (Tx, error) { return &memTx{s: s}, nil }

type memTx struct {
	s       *MemoryStore
	adds    []DeadLetter
	removes []int64
	done    bool
}

func (t *memTx) Pgx() pgx.Tx { return nil }

func (t *memTx) PutDeadLetter(ctx context.Context, dl DeadLetter) error {
	t.adds = append(t.adds, storable(dl))
	return nil
}

func (t *memTx) RemoveDeadLetter(ctx context.Context, sub string, id int64) error {
	t.removes = append(t.removes, id)
	return nil
}

func (t *memTx) Rollback(ctx context.Context) error {
	t.done = true
	return nil
}

func (t *memTx) Commit(ctx context.Context, l Lease, pos eventlog.Position) error {
	if t.done {
		return fmt.Errorf("checkpoint: commit of a finished unit of work")
	}
	t.done = true
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(l.Subscription)
	if err != nil {
		return err
	}
	p := m.holds(l)
	if p == nil {
		return fmt.Errorf("%w: %s/%d epoch %d", ErrFenced, l.Subscription, l.Partition, l.Epoch)
	}
	p.Checkpoint, p.CommittedAt = pos, s.now()
	for _, id := range t.removes {
		delete(m.dls, id)
	}
	for _, dl := range t.adds {
		if old := m.findEvent(dl); old != nil {
			old.Blocked, old.Error, old.Attempts, old.LastFailedAt, old.NextAttemptAt, old.RetryRequested =
				dl.Blocked, dl.Error, dl.Attempts, dl.LastFailedAt, dl.NextAttemptAt, false
			continue
		}
		s.nextDL++
		dl.ID = s.nextDL
		dl.RetryRequested = false
		m.dls[dl.ID] = &dl
	}
	return nil
}

func (m *memSub) findEvent(dl DeadLetter) *DeadLetter {
	for _, d := range m.dls {
		if d.EventID == dl.EventID {
			return d
		}
	}
	return nil
}

func (m *memSub) sortedDLs(keep func(*DeadLetter) bool) []DeadLetter {
	var out []DeadLetter
	for _, d := range m.dls {
		if keep(d) {
			out = append(out, *d)
		}
	}
	slices.SortFunc(out, func(a, b DeadLetter) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// DeadLetters implements Store.
func (s *MemoryStore) DeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []DeadLetter
	for _, m := range s.subs {
		if q.Subscription != "" && m.sub.Name != q.Subscription {
			continue
		}
		out = append(out, m.sortedDLs(func(d *DeadLetter) bool {
			return (q.Partition == nil || d.Partition == *q.Partition) && (q.Key == "" || d.Key == q.Key) && d.ID > q.AfterID
		})...)
	}
	slices.SortFunc(out, func(a, b DeadLetter) int { return cmp.Compare(a.ID, b.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DeadLetter implements Store.
func (s *MemoryStore) DeadLetter(ctx context.Context, sub string, id int64) (DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, err := s.get(sub); err == nil {
		if d, ok := m.dls[id]; ok {
			return *d, nil
		}
	}
	return DeadLetter{}, fmt.Errorf("%w: dead letter %d of %q", ErrNotFound, id, sub)
}

// CountDeadLetters implements Store.
func (s *MemoryStore) CountDeadLetters(ctx context.Context, sub string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, err := s.get(sub); err == nil {
		return len(m.dls), nil
	}
	return 0, nil
}

// BlockedKeys implements Store.
func (s *MemoryStore) BlockedKeys(ctx context.Context, sub string, partition int) (map[string]BlockedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]BlockedKey{}
	m, err := s.get(sub)
	if err != nil {
		return out, nil
	}
	for _, d := range m.inLogOrder(func(d *DeadLetter) bool { return d.Partition == partition }) {
		k, seen := out[d.Key]
		if !seen {
			k = BlockedKey{Key: d.Key, RetryAt: blockedRetryAt(d.Blocked, nullTime(d.NextAttemptAt))}
		}
		k.RetryRequested = k.RetryRequested || d.RetryRequested
		out[d.Key] = k
	}
	return out, nil
}

// KeyDeadLetters implements Store.
func (s *MemoryStore) KeyDeadLetters(ctx context.Context, sub string, partition int, key string) ([]DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(sub)
	if err != nil {
		return nil, nil
	}
	return m.inLogOrder(func(d *DeadLetter) bool { return d.Partition == partition && d.Key == key }), nil
}

// inLogOrder returns the dead letters keep selects, by key then position.
func (m *memSub) inLogOrder(keep func(*DeadLetter) bool) []DeadLetter {
	out := m.sortedDLs(keep)
	slices.SortFunc(out, func(a, b DeadLetter) int {
		if c := cmp.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return a.Position.Compare(b.Position)
	})
	return out
}

// RequestRetry implements Store.
func (s *MemoryStore) RequestRetry(ctx context.Context, sub string, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(sub)
	if err != nil {
		return err
	}
	d, ok := m.dls[id]
	if !ok {
		return fmt.Errorf("%w: dead letter %d of %q", ErrNotFound, id, sub)
	}
	for _, x := range m.dls {
		if x.Partition == d.Partition && x.Key == d.Key {
			x.RetryRequested = true
		}
	}
	return nil
}

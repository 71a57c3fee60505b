package checkpoint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// memDiscards are the memory store's remembered discards, by lineage.
type memDiscards struct {
	byLineage map[string]map[uuid.UUID]*DiscardedEvent
	nextID    int64
}

// Discard implements Store.
func (s *MemoryStore) Discard(ctx context.Context, sub string, id int64, by string) error {
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
	s.discardLocked(m, []DeadLetter{*d}, by)
	return nil
}

// DiscardDeadLetters implements Store.
func (s *MemoryStore) DiscardDeadLetters(ctx context.Context, f DeadLetterFilter, by string) (BulkResult, error) {
	if err := f.Validate(); err != nil {
		return BulkResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(f.Subscription)
	if err != nil {
		return BulkResult{}, err
	}
	return s.discardLocked(m, m.sortedDLs(func(d *DeadLetter) bool { return f.Match(*d) }), by), nil
}

// discardLocked deletes dls, remembers their events and releases the rest
// of each key whose first dead letter is among them.
func (s *MemoryStore) discardLocked(m *memSub, dls []DeadLetter, by string) BulkResult {
	type pk struct {
		part int
		key  string
	}
	gone := make(map[int64]bool, len(dls))
	keys := map[pk]bool{}
	for _, d := range dls {
		gone[d.ID] = true
		keys[pk{d.Partition, d.Key}] = true
	}
	released := 0
	for k := range keys {
		letters := m.inLogOrder(func(d *DeadLetter) bool { return d.Partition == k.part && d.Key == k.key })
		if !gone[letters[0].ID] {
			continue
		}
		rest := 0
		for _, d := range letters {
			if !gone[d.ID] {
				m.dls[d.ID].RetryRequested = true
				rest++
			}
		}
		if rest > 0 {
			released++
		}
	}
	lineage := Lineage(m.sub.Name)
	if s.discards.byLineage == nil {
		s.discards.byLineage = map[string]map[uuid.UUID]*DiscardedEvent{}
	}
	set := s.discards.byLineage[lineage]
	if set == nil {
		set = map[uuid.UUID]*DiscardedEvent{}
		s.discards.byLineage[lineage] = set
	}
	for _, d := range dls {
		delete(m.dls, d.ID)
		rec := set[d.EventID]
		if rec == nil {
			s.discards.nextID++
			rec = &DiscardedEvent{ID: s.discards.nextID, Lineage: lineage, EventID: d.EventID}
			set[d.EventID] = rec
		}
		rec.Subscription, rec.Partition, rec.Partitions, rec.Key = m.sub.Name, d.Partition, m.sub.Partitions, d.Key
		rec.StreamID, rec.Version, rec.Type, rec.Error = d.StreamID, d.Version, d.Type, d.Error
		rec.DiscardedAt, rec.DiscardedBy = s.now(), storableActor(by)
	}
	return BulkResult{DeadLetters: len(dls), Keys: released}
}

// RetryDeadLetters implements Store.
func (s *MemoryStore) RetryDeadLetters(ctx context.Context, f DeadLetterFilter) (BulkResult, error) {
	if err := f.Validate(); err != nil {
		return BulkResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(f.Subscription)
	if err != nil {
		return BulkResult{}, err
	}
	type pk struct {
		part int
		key  string
	}
	keys := map[pk]bool{}
	for _, d := range m.dls {
		if f.Match(*d) {
			keys[pk{d.Partition, d.Key}] = true
		}
	}
	var res BulkResult
	for _, d := range m.dls {
		if keys[pk{d.Partition, d.Key}] {
			d.RetryRequested = true
			res.DeadLetters++
		}
	}
	res.Keys = len(keys)
	return res, nil
}

// DiscardedIDs implements Store.
func (s *MemoryStore) DiscardedIDs(ctx context.Context, sub string, partition int) (EventSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := EventSet{}
	m, err := s.get(sub)
	if err != nil {
		return out, nil
	}
	for id, d := range s.discards.byLineage[Lineage(sub)] {
		if d.Partitions != m.sub.Partitions || d.Partition == partition {
			out[id] = struct{}{}
		}
	}
	return out, nil
}

// IsDiscarded implements Store.
func (s *MemoryStore) IsDiscarded(ctx context.Context, sub string, eventID uuid.UUID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.discards.byLineage[Lineage(sub)][eventID]
	return ok, nil
}

// DiscardedEvents implements Store.
func (s *MemoryStore) DiscardedEvents(ctx context.Context, q DiscardedQuery) ([]DiscardedEvent, error) {
	if q.Subscription == "" {
		return nil, errors.New("checkpoint: discarded events: a subscription is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []DiscardedEvent
	for _, d := range s.discards.byLineage[Lineage(q.Subscription)] {
		if d.ID > q.AfterID {
			out = append(out, *d)
		}
	}
	slices.SortFunc(out, func(a, b DiscardedEvent) int { return cmp.Compare(a.ID, b.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

package checkpoint

import (
	"cmp"
	"context"
	"slices"

	"github.com/causewayhq/causeway/eventlog"
)

// Move implements Store.
func (s *MemoryStore) Move(ctx context.Context, sub string, req MoveRequest) (MoveRecord, error) {
	req = storableMove(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(sub)
	if err != nil {
		return MoveRecord{}, err
	}
	old := make([]eventlog.Position, 0, len(m.parts))
	for i := range m.parts {
		p := &m.parts[i]
		old = append(old, p.Checkpoint)
		p.Checkpoint, p.Epoch, p.Owner, p.LeaseExpiresAt, p.CommittedAt = req.To, p.Epoch+1, "", timeZero, s.now()
	}
	rec := MoveRecord{Subscription: sub, To: req.To, Target: req.Target, RequestedBy: req.By, RequestedAt: s.now()}
	rec.FromMin, rec.FromMax = span(old)
	for id, d := range m.dls {
		if req.To.Before(d.Position) {
			delete(m.dls, id)
			rec.DeadLettersDeleted++
		}
	}
	s.nextMove++
	rec.ID = s.nextMove
	m.moves = append(m.moves, rec)
	return rec, nil
}

// Moves implements Store.
func (s *MemoryStore) Moves(ctx context.Context, sub string, limit int) ([]MoveRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []MoveRecord
	for name, m := range s.subs {
		if sub == "" || name == sub {
			out = append(out, m.moves...)
		}
	}
	slices.SortFunc(out, func(a, b MoveRecord) int { return cmp.Compare(b.ID, a.ID) })
	if n := movesLimit(limit); len(out) > n {
		out = out[:n]
	}
	return out, nil
}

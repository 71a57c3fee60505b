package memory

import (
	"context"
	"time"

	"github.com/causewayhq/causeway/eventlog"
)

// PositionAt implements eventlog.Store: one scan of the log up to the
// first event recorded at or after t.
func (s *Store) PositionAt(ctx context.Context, t time.Time) (eventlog.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventlog.Start, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range s.events {
		if !s.events[i].RecordedAt.Before(t) {
			if i == 0 {
				return eventlog.Start, nil
			}
			return s.events[i-1].Position, nil
		}
	}
	if n := len(s.events); n > 0 {
		return s.events[n-1].Position, nil
	}
	return eventlog.Start, nil
}

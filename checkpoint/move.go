package checkpoint

import (
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtext"
)

// A move sets every partition of a subscription to one position: back, to
// process events again, or forward, to skip them. It is fenced like Reset
// (every epoch +1, leases freed), so a member running the subscription
// loses its partitions at its next commit, rolls that batch back and, once
// it claims them again, continues from the new position. The dead letters
// of events after the position are deleted — those events are delivered
// again and fail again if they still fail — and those at or before it are
// kept: their events are not delivered again, so only an operator's retry
// or discard can settle them. Every move is recorded with who asked.

// MoveRequest says where to move a subscription and who asks.
type MoveRequest struct {
	// To is every partition's new checkpoint: Start, or the position of an
	// event (never beyond the last one: see eventlog.Position).
	To eventlog.Position
	// Target is how the operator named To, kept in the record ("start",
	// "end", "position", "time 2026-01-02T15:04:05Z").
	Target string
	// By is who asks (an operator's user@host, "api", …).
	By string
}

// MoveRecord is a recorded move.
type MoveRecord struct {
	ID           int64
	Subscription string
	// FromMin and FromMax are the lowest and highest partition checkpoints
	// before the move.
	FromMin, FromMax eventlog.Position
	To               eventlog.Position
	Target           string
	RequestedBy      string
	RequestedAt      time.Time
	// DeadLettersDeleted counts the dead letters of events after To that
	// the move deleted.
	DeadLettersDeleted int
}

// DefaultMovesLimit is how many moves Moves lists when asked for 0.
const DefaultMovesLimit = 100

// maxMoveText bounds a move's free text (who asked, the target).
const maxMoveText = 1 << 10

// storableMove makes a request's free text storable in PostgreSQL (no NUL,
// valid UTF-8, bounded); the memory store does the same so both agree.
func storableMove(req MoveRequest) MoveRequest {
	req.Target = pgtext.Truncate(pgtext.Sanitize(req.Target), maxMoveText)
	req.By = pgtext.Truncate(pgtext.Sanitize(req.By), maxMoveText)
	return req
}

// movesLimit applies the default.
func movesLimit(n int) int {
	if n <= 0 {
		return DefaultMovesLimit
	}
	return n
}

// span returns the lowest and highest of positions (Start, Start for none).
func span(ps []eventlog.Position) (lo, hi eventlog.Position) {
	for i, p := range ps {
		if i == 0 || p.Before(lo) {
			lo = p
		}
		if i == 0 || hi.Before(p) {
			hi = p
		}
	}
	return lo, hi
}

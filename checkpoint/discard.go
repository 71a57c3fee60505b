package checkpoint

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/internal/pgtext"
)

// An operator's discard is remembered. Discarding a dead letter deletes it
// and records its event, by id, for the subscription's lineage (Lineage: a
// versioned projection's builds share it) in the same transaction. A worker
// loads the discarded ids of its partition when it claims it and skips those
// events (the checkpoint moves past them), so a replay, a move or a later
// build neither handles the event again nor dead-letters it and parks its
// key. The set is read once per claim, never polled: a discard only concerns
// an event already dead-lettered, so already behind the running partition;
// it matters again only once the partition is reset or moved, which fences
// and reclaims it. A build claimed before the discard still has the old set:
// the worker asks the store once more before dead-lettering an event, so it
// never parks the key for a discarded event either (IsDiscarded).
//
// Discarding the first dead letter of a key (in log order) releases the
// ones parked behind it: they are marked for retry, as RequestRetry marks
// them, and the partition's owner re-delivers them in order.

// DiscardedEvent is an event an operator discarded, remembered for its
// subscription's lineage.
type DiscardedEvent struct {
	ID      int64
	Lineage string
	EventID uuid.UUID
	// Subscription, Partition, Partitions: where its dead letter was, and
	// the subscription's partition count then.
	Subscription string
	Partition    int
	Partitions   int
	Key          string
	StreamID     string
	Version      int64
	Type         string
	// Error is the dead letter's last error.
	Error       string
	DiscardedAt time.Time
	// DiscardedBy is who discarded it ("alice@host", "api", …).
	DiscardedBy string
}

// DiscardedQuery selects remembered discards of one lineage, in id order.
type DiscardedQuery struct {
	// Subscription is required; its lineage is what is listed.
	Subscription string
	AfterID      int64 // paging: ids greater than this
	Limit        int   // default 100
}

// DeadLetterFilter selects a subscription's dead letters for a bulk retry
// or discard. Subscription is required; zero fields match all.
type DeadLetterFilter struct {
	Subscription string
	Partition    *int
	Key          string
	// Type is the event type, exactly.
	Type string
	// ErrorContains matches a substring of the error, ignoring case.
	ErrorContains string
	// FailedAfter (inclusive) and FailedBefore (exclusive) bound when the
	// dead letter was recorded (its FirstFailedAt).
	FailedAfter  time.Time
	FailedBefore time.Time
}

// ErrInvalidFilter is returned for a DeadLetterFilter without a
// subscription, or with bounds that select nothing by construction.
var ErrInvalidFilter = errors.New("checkpoint: invalid dead-letter filter")

// Validate checks the filter.
func (f DeadLetterFilter) Validate() error {
	if f.Subscription == "" {
		return fmt.Errorf("%w: a subscription is required", ErrInvalidFilter)
	}
	if f.Partition != nil && (*f.Partition < 0 || *f.Partition >= MaxPartitions) {
		return fmt.Errorf("%w: partition %d out of range", ErrInvalidFilter, *f.Partition)
	}
	if !f.FailedAfter.IsZero() && !f.FailedBefore.IsZero() && !f.FailedAfter.Before(f.FailedBefore) {
		return fmt.Errorf("%w: failed-after %s is not before failed-before %s", ErrInvalidFilter,
			f.FailedAfter.Format(time.RFC3339), f.FailedBefore.Format(time.RFC3339))
	}
	return nil
}

// Match reports whether d is selected (the memory store's filter; the
// PostgreSQL store says the same in SQL).
func (f DeadLetterFilter) Match(d DeadLetter) bool {
	return d.Subscription == f.Subscription &&
		(f.Partition == nil || d.Partition == *f.Partition) &&
		(f.Key == "" || d.Key == f.Key) &&
		(f.Type == "" || d.Type == f.Type) &&
		(f.ErrorContains == "" || strings.Contains(strings.ToLower(d.Error), strings.ToLower(f.ErrorContains))) &&
		(f.FailedAfter.IsZero() || !d.FirstFailedAt.Before(f.FailedAfter)) &&
		(f.FailedBefore.IsZero() || d.FirstFailedAt.Before(f.FailedBefore))
}

// BulkResult counts what a bulk retry or discard did.
type BulkResult struct {
	// DeadLetters is how many dead letters were marked for retry (every
	// dead letter of the keys selected), or discarded (and remembered).
	DeadLetters int
	// Keys is, for a retry, how many keys were marked (each re-delivered in
	// order, all of its dead letters); for a discard, how many keys had
	// their first dead letter discarded and the rest released for retry.
	Keys int
}

// EventSet is a set of event ids.
type EventSet map[uuid.UUID]struct{}

// Has reports whether id is in the set.
func (s EventSet) Has(id uuid.UUID) bool {
	_, ok := s[id]
	return ok
}

// storableActor is who acted, storable, "unknown" when not said.
func storableActor(by string) string {
	by = strings.TrimSpace(pgtext.Sanitize(by))
	if by == "" {
		return "unknown"
	}
	return pgtext.Truncate(by, 256)
}

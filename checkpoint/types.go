package checkpoint

import (
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
)

var (
	// ErrFenced means the lease is no longer held with that epoch: another
	// member claimed the partition. Nothing was committed.
	ErrFenced = errors.New("checkpoint: lease lost to another member (fenced)")
	// ErrPartitionsChanged means a subscription was registered again with a
	// different partition count; the count is fixed at creation.
	ErrPartitionsChanged = errors.New("checkpoint: partition count differs from the stored subscription")
	// ErrNotFound is returned for an unknown subscription or dead letter.
	ErrNotFound = errors.New("checkpoint: not found")
)

// Subscription is a consumer group's stored definition.
type Subscription struct {
	Name       string
	Partitions int
	// StartAt is where every partition starts when the subscription is
	// first created (Start, or the head at creation for "start from now").
	StartAt   eventlog.Position
	CreatedAt time.Time
}

// Member is one process running a subscription.
type Member struct {
	ID   string
	Host string
	PID  int
}

// Lease is a claimed partition.
type Lease struct {
	Subscription string
	Partition    int
	Owner        string
	Epoch        int64
	// Checkpoint is the partition's checkpoint when it was claimed.
	Checkpoint eventlog.Position
}

// PartitionState is a partition as stored.
type PartitionState struct {
	Partition      int
	Checkpoint     eventlog.Position
	Owner          string // "" when unowned
	Epoch          int64
	LeaseExpiresAt time.Time
	CommittedAt    time.Time
}

// Leased reports whether the partition has an owner whose lease has not
// expired at now.
func (p PartitionState) Leased(now time.Time) bool {
	return p.Owner != "" && p.LeaseExpiresAt.After(now)
}

// DeadLetter is an event a subscription could not handle (Blocked false), or
// a later event of the same key parked behind it (Blocked true). A failing
// event is recorded at its first failure, so that its key's later events wait
// behind it while the partition's other keys flow; while NextAttemptAt is
// set, the partition's owner retries it on its own, and it only becomes a dead
// letter proper (NextAttemptAt zero) when its attempts run out.
type DeadLetter struct {
	ID            int64
	Subscription  string
	Partition     int
	Key           string
	EventID       uuid.UUID
	Position      eventlog.Position
	StreamID      string
	Version       int64
	Type          string
	Blocked       bool
	Error         string
	Attempts      int
	FirstFailedAt time.Time
	LastFailedAt  time.Time
	// NextAttemptAt is when the owner retries the event on its own; the zero
	// time means it waits for an operator (retry or discard).
	NextAttemptAt  time.Time
	RetryRequested bool
}

// Retrying reports whether the event is still being retried automatically.
func (d DeadLetter) Retrying() bool { return !d.NextAttemptAt.IsZero() }

// BlockedKey is a key of a partition with dead letters: its events wait
// behind the first of them.
type BlockedKey struct {
	Key string
	// RetryAt is when the partition's owner re-delivers the key's first dead
	// letter on its own: its NextAttemptAt, or, when the first one is a parked
	// event (the failing one was discarded), at once. The zero time means it
	// waits for an operator.
	RetryAt time.Time
	// RetryRequested is set when an operator asked for the key to be
	// re-delivered (any of its dead letters).
	RetryRequested bool
}

// DeadLetterQuery selects dead letters. Zero fields match all.
type DeadLetterQuery struct {
	Subscription string
	Partition    *int
	Key          string
	AfterID      int64 // paging: ids greater than this
	Limit        int   // default 100
}

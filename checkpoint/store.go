package checkpoint

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
)

// Store is the shared state of consumer groups.
type Store interface {
	// Register creates a subscription and its partitions if it does not
	// exist and returns it as stored. A different partition count than the
	// stored one is ErrPartitionsChanged.
	Register(ctx context.Context, sub Subscription) (Subscription, error)
	// Subscriptions lists every stored subscription.
	Subscriptions(ctx context.Context) ([]Subscription, error)
	// Subscription returns one (ErrNotFound if unknown).
	Subscription(ctx context.Context, name string) (Subscription, error)

	// Heartbeat records that member is alive for ttl and returns how many
	// members of the subscription are alive, itself included.
	Heartbeat(ctx context.Context, sub string, m Member, ttl time.Duration) (live int, err error)
	// Leave removes a member (graceful stop).
	Leave(ctx context.Context, sub, member string) error
	// Members lists the live members.
	Members(ctx context.Context, sub string) ([]Member, error)

	// Claim leases up to max partitions that are unowned or whose lease
	// expired, each with a new epoch.
	Claim(ctx context.Context, sub, member string, max int, ttl time.Duration) ([]Lease, error)
	// Renew extends the given leases and returns those still held.
	Renew(ctx context.Context, leases []Lease, ttl time.Duration) ([]Lease, error)
	// Release gives leases up (graceful stop, rebalancing); the checkpoint
	// stays.
	Release(ctx context.Context, leases []Lease) error
	// Partitions returns every partition of a subscription.
	Partitions(ctx context.Context, sub string) ([]PartitionState, error)

	// Reset moves every partition of a subscription back to its start,
	// increments every epoch (fencing whoever holds a lease: their next
	// commit fails), frees the leases and deletes the dead letters. Replays
	// use it; ErrNotFound for an unknown subscription.
	Reset(ctx context.Context, sub string) error

	// Move sets every partition's checkpoint of a subscription to req.To,
	// fencing like Reset (every epoch +1, leases freed), deletes the dead
	// letters of events after req.To (they are delivered again), keeps
	// those at or before it, and records the move — all at once (see
	// move.go). ErrNotFound for an unknown subscription.
	Move(ctx context.Context, sub string, req MoveRequest) (MoveRecord, error)
	// Moves lists the recorded moves of a subscription ("" = all), newest
	// first, at most limit (0 = DefaultMovesLimit).
	Moves(ctx context.Context, sub string, limit int) ([]MoveRecord, error)

	// Begin starts a unit of work (see Tx).
	Begin(ctx context.Context) (Tx, error)
	// Commit moves a checkpoint in its own short transaction, fenced by the
	// lease's epoch (at-least-once mode).
	Commit(ctx context.Context, l Lease, pos eventlog.Position) error

	// DeadLetters lists dead letters in order (subscription, partition, key,
	// position).
	DeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error)
	// DeadLetter returns one by id.
	DeadLetter(ctx context.Context, sub string, id int64) (DeadLetter, error)
	// CountDeadLetters counts a subscription's dead letters.
	CountDeadLetters(ctx context.Context, sub string) (int, error)
	// BlockedKeys returns the keys of a partition that have dead letters,
	// with when each is due to be retried.
	BlockedKeys(ctx context.Context, sub string, partition int) (map[string]BlockedKey, error)
	// BlockedKeysOf is BlockedKeys for the given keys only (those without
	// dead letters are absent from the result): a worker keeps its blocked
	// keys in memory and re-reads only those it must (see retryrequests.go).
	BlockedKeysOf(ctx context.Context, sub string, partition int, keys []string) (map[string]BlockedKey, error)
	// RetryRequests returns, by partition, the keys of sub with a pending
	// retry request, reading the requests only (see retryrequests.go).
	RetryRequests(ctx context.Context, sub string) (map[int][]string, error)
	// KeyDeadLetters returns a key's dead letters in log order.
	KeyDeadLetters(ctx context.Context, sub string, partition int, key string) ([]DeadLetter, error)
	// RequestRetry asks the partition's owner to re-deliver the key of dead
	// letter id: all of the key's dead letters in order, those parked after
	// the request included.
	RequestRetry(ctx context.Context, sub string, id int64) error
	// Discard deletes a dead letter without handling it and remembers its
	// event for the subscription's lineage, with who discarded it (see
	// discard.go): no replay or build delivers the event again. Discarding
	// the first dead letter of a key releases the rest for retry, in order.
	Discard(ctx context.Context, sub string, id int64, by string) error

	// DiscardedIDs returns the events a partition of sub skips: those
	// discarded for sub's lineage in that partition, and all those recorded
	// under another partition count. Read once per claim.
	DiscardedIDs(ctx context.Context, sub string, partition int) (EventSet, error)
	// IsDiscarded reports whether an event was discarded for sub's lineage.
	IsDiscarded(ctx context.Context, sub string, eventID uuid.UUID) (bool, error)
	// DiscardedEvents lists the discards remembered for a subscription's
	// lineage, in id order.
	DiscardedEvents(ctx context.Context, q DiscardedQuery) ([]DiscardedEvent, error)
	// RetryDeadLetters asks for a retry of every key with a dead letter f
	// selects (as RequestRetry: all of the key's dead letters, in order).
	// ErrNotFound for an unknown subscription, ErrInvalidFilter for a bad
	// filter.
	RetryDeadLetters(ctx context.Context, f DeadLetterFilter) (BulkResult, error)
	// DiscardDeadLetters discards every dead letter f selects, in one
	// transaction, as Discard does each.
	DiscardDeadLetters(ctx context.Context, f DeadLetterFilter, by string) (BulkResult, error)
}

// Tx is a unit of work: handler writes (through Pgx, in the PostgreSQL
// store), dead-letter changes and the checkpoint commit together.
type Tx interface {
	// Pgx is the PostgreSQL transaction, or nil for the memory store.
	Pgx() pgx.Tx
	// PutDeadLetter records a dead letter, or updates the one of the same
	// subscription and event: Blocked, Error, Attempts, LastFailedAt and
	// NextAttemptAt are set as given (FirstFailedAt and the id stay), and
	// the retry request is cleared. Error and Key text PostgreSQL could not
	// store (NUL, invalid UTF-8) is sanitized.
	PutDeadLetter(ctx context.Context, dl DeadLetter) error
	// RemoveDeadLetter deletes a dead letter that was handled on retry.
	RemoveDeadLetter(ctx context.Context, sub string, id int64) error
	// Commit moves the lease's checkpoint to pos, fenced by its epoch, and
	// commits everything. ErrFenced: rolled back, nothing committed.
	Commit(ctx context.Context, l Lease, pos eventlog.Position) error
	// Rollback abandons the unit of work; safe after Commit.
	Rollback(ctx context.Context) error
}

package saga

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
)

// Store persists saga instances. saga/postgres is the production store;
// MemoryStore has the same semantics for tests; sagatest.Run checks both.
type Store interface {
	// Start creates inst unless its (type, correlation id) exists, and
	// reports whether it did. With tx (PostgreSQL) it joins that
	// transaction: the subscription's, whose checkpoint moves with it.
	Start(ctx context.Context, tx pgx.Tx, inst Instance) (bool, error)
	// StartLeased is Start for an instance created leased to owner for
	// lease (by the store's clock, from the statement that creates it),
	// at version 1, as a claim would have left it: the executor whose
	// process started it runs it without claiming it once tx commits (see
	// HandOff), and if that process dies, another executor claims it when
	// the lease runs out. It returns the instance as created, or false if
	// the (type, correlation id) exists.
	StartLeased(ctx context.Context, tx pgx.Tx, inst Instance, owner string, lease time.Duration) (Instance, bool, error)
	// AddInbox files an event for the (type, correlation id) instance and
	// wakes it if it is waiting. Filing the same event twice is harmless.
	AddInbox(ctx context.Context, tx pgx.Tx, sagaType, correlationID string, e eventlog.Event) error
	// Inbox returns the ids and positions of the unconsumed events of a
	// type filed for an instance, oldest first.
	Inbox(ctx context.Context, sagaType, correlationID, eventType string) ([]InboxEntry, error)

	// Claim leases up to n runnable instances of the given types (due,
	// not leased) to owner for lease, incrementing their version.
	Claim(ctx context.Context, types []string, owner string, n int, lease time.Duration) ([]Instance, error)
	// Record stores an attempt's outcome if the instance is still at
	// claimed.Version (else ErrLeaseLost): the next instance state, its
	// history entry, the effects (emitted events, enqueued messages) and
	// the consumed inbox entry, all in one transaction (no history entry
	// when h.Step is empty). With keep > 0 the lease is kept for that long.
	// It returns the instance as stored.
	//
	// When next is Parked (waiting until its deadline), the store looks in
	// the inbox, after the instance's row is updated and in the same
	// transaction, for an event of next.WaitEvent filed before: if there
	// is one the instance is due at once and keeps the lease (keep > 0),
	// else it is stored without a lease. So an early event costs no claim,
	// and parking none either. Error text (last error, history)
	// is stored sanitized and cut (MaxErrorText); an outcome that cannot be
	// stored at all — an emit that conflicts or is invalid, an enqueue the
	// queue refuses, a state jsonb refuses — is a *RefusedError
	// (ErrOutcomeRefused) and writes nothing.
	Record(ctx context.Context, claimed, next Instance, h HistoryEntry, fx Effects, consumed *InboxEntry, keep time.Duration) (Instance, error)
	// NextDue returns the earliest due time of a runnable instance.
	NextDue(ctx context.Context, types []string) (time.Time, bool, error)

	// Get, History and List are for operators.
	Get(ctx context.Context, id uuid.UUID) (Instance, error)
	History(ctx context.Context, id uuid.UUID) ([]HistoryEntry, error)
	List(ctx context.Context, q Query) ([]Instance, error)
	// Count counts instances of a type by status.
	Count(ctx context.Context, sagaType string) (map[Status]int, error)
	// Update applies an operator change if the instance is at the version
	// it was read at (else ErrLeaseLost), with a history entry.
	Update(ctx context.Context, read, next Instance, h HistoryEntry) (Instance, error)
}

// Parked reports whether inst waits for an event until its deadline: a
// waiting instance due no earlier than its wait deadline (a wait step just
// entered, or woken with nothing to receive). See Store.Record.
func Parked(inst Instance) bool {
	return inst.Status == StatusWaiting && !inst.NextAttemptAt.Before(inst.WaitDeadline)
}

// InboxEntry is a filed event.
type InboxEntry struct {
	EventID  uuid.UUID
	Type     string
	Position eventlog.Position
}

// Query selects instances; zero fields match all.
type Query struct {
	Type          string
	Status        Status
	CorrelationID string
	After         uuid.UUID // paging (ids are ordered)
	Limit         int       // default 100
}

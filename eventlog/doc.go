// Package eventlog is Causeway's append-only event log: the types every other
// package shares (Event, Position, ExpectedVersion, Filter), the Store
// contract, validation of what goes in, typed events and folds, upcasting,
// and the process-wide Tailer that wakes subscriptions when the log grows.
//
// # Typed events
//
// A Go type names its event type once, with a value-receiver method:
//
//	func (OrderPlaced) EventType() string { return "OrderPlaced" }
//
// Encode builds an append from a value with that name; handlers, saga starts
// and waits, and folds infer it from the type parameter of the
// Envelope[T] they take — the stored Event with its data decoded into Data.
// For names chosen at run time the string forms remain (NewEvent and the
// …Type variants elsewhere); they refuse a Go type that declares another
// name (ErrTypeMismatch).
//
// # Upcasting
//
// Stored events are never rewritten. An Upcaster turns an old stored type or
// shape into the current one at read time; WithUpcasters wraps a Store so
// that every read through it — subscriptions, projections, sagas, folds —
// sees current shapes only, and type filters also read the old types.
//
// # Folds
//
// A Fold folds a stream into a state with Evolve functions; Decide loads it,
// asks a function for the events to append given the state, and appends them
// at the version it read, so a concurrent writer makes the decision fail with
// ErrWrongExpectedVersion instead of being based on stale state.
//
// # Global order without gaps
//
// A bigserial position alone is not a safe global order: transactions commit
// out of order, so a reader that has passed position N can later miss a row
// with a smaller position that commits after it looked. Causeway orders the
// log by the pair (transaction id, position) and only ever shows rows whose
// transaction id lies below the oldest transaction still running
// (pg_snapshot_xmin). Every transaction below that horizon has finished, so
// nothing can ever appear behind a reader, and a reader never has to skip a
// "gap" on a timer. A Position is that pair; treat it as opaque and compare
// positions with Compare.
//
// Cursors stay on rows. After crash recovery or a failover PostgreSQL can
// hand out again the transaction ids of transactions whose WAL never reached
// disk (typically rolled-back ones), so the horizon itself is not a safe
// place to keep a cursor: a later commit can land behind it. A batch's Next
// is therefore always the cursor it was given or the position of a committed
// event, whose id survives (provided commits are durable: synchronous_commit
// on, and synchronous replication where failover must not lose commits).
//
// Per-stream order must equal global order. Appends take a per-stream
// advisory lock before their first write, so the later writer of a stream is
// given the larger transaction id. A transaction that already had an id before
// it took the lock (several streams in one transaction, or an append inside a
// caller's transaction that wrote before) is checked against the stream's last
// writer and fails with ErrAppendOrderConflict — retryable — when it would
// break the order.
//
// The price is that a long-running write transaction anywhere in the cluster
// holds the horizon back; see the postgres store's Horizon for how to watch it.
//
// # Stores
//
// The postgres sub-package is the production store; the memory sub-package has
// identical semantics for fast unit tests; eventlogtest holds the conformance
// suite both pass.
package eventlog

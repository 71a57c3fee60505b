// Package checkpoint stores what a consumer group shares: each
// subscription's partitions with their checkpoints and leases, the group's
// members, and its dead letters. PostgresStore is the production store;
// MemoryStore has the same semantics for fast tests; checkpointtest holds
// the conformance suite both pass.
//
// # Leases and fencing
//
// A partition is leased to one member at a time. Every claim increments the
// partition's epoch, and every checkpoint write says which epoch it was made
// under: "UPDATE … WHERE epoch = $mine". A member that lost its lease — it
// paused past the TTL and another member claimed the partition — updates no
// row, gets ErrFenced, and its transaction (with the handler's writes) rolls
// back. Claims, renewals and releases are single short UPDATE … RETURNING
// statements; no row lock is ever held while events are being handled.
//
// # Commit modes
//
// Tx is one unit of work: in transactional mode the handler writes through
// Tx.Pgx() and Tx.Commit moves the checkpoint in the same transaction, so a
// read model and its checkpoint always agree. In at-least-once mode the
// worker flushes checkpoints with Store.Commit every N events or T ms.
//
// # Moves
//
// Store.Move sets every partition of a subscription to one position (an
// operator's move to the start, the end, a position or a time), fenced like
// Reset; dead letters of events after the position are deleted, those at
// or before it kept, and the move is recorded (Store.Moves). See move.go.
package checkpoint

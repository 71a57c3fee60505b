// Package postgres is the PostgreSQL queue.Store: tables queues,
// queue_messages and queue_dedup in the runtime's schema (migration 0009),
// SKIP LOCKED dequeue, and EnqueueTx for enqueuing in the caller's
// transaction. See package worker/queue for the design.
package postgres

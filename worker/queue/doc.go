// Package queue is Causeway's ephemeral stream: durable queues of JSON
// messages with SQS-style delivery, for background jobs and notifications
// (where the event log is the persistent stream).
//
// # Delivery
//
// Dequeue hands out up to n ready messages, each as a Delivery carrying a
// Receipt and a VisibleUntil time. Until then the message is invisible to
// other consumers. The holder settles it with the receipt: Ack (done:
// deleted, or kept for the queue's Retention), Nack (failed: available
// again after a delay) or Extend (still working: invisible for longer).
// If the holder does none of these in time — it crashed, hung or lost its
// connection — the visibility runs out and the next Dequeue delivers the
// message again with a new receipt. Delivery is therefore at least once:
// a handler must tolerate a message it has seen before.
//
// # Receipts
//
// A receipt names one delivery, not the message. Each Dequeue of a message
// gives it a fresh receipt, and ack, nack or a dead letter clears it, so a
// consumer whose visibility ran out cannot ack, nack or extend the
// delivery another consumer now holds: it gets ErrStaleReceipt, as with an
// SQS receipt handle. Until the message is delivered again, a late holder's
// receipt still works (nothing else holds the message).
//
// # Attempts and dead letters
//
// Attempts counts deliveries. A message nacked on its queue's MaxAttempts-th
// delivery, or whose visibility runs out on it, goes to the queue's dead
// letters with its last error (the nack's cause, or the expiry). Dead
// letters are listed, requeued (ready again, attempts reset) or discarded.
//
// # Order
//
// Ready messages are delivered highest Priority first, then the longest
// ready first. A message is never delivered before its available time
// (Delay, NotBefore, a nack's delay). Concurrent consumers make the order
// approximate across them, as in any competing-consumer queue.
//
// # Deduplication
//
// A message with a Dedup key is enqueued only if no message of the queue
// had that key within the key's window; otherwise Enqueue reports it as a
// Duplicate of the earlier one. The key outlives the message (an acked
// job is not run again within the window); Store.Purge removes expired
// keys and acked messages past their retention.
//
// # Stores
//
// worker/queue/postgres stores queues in the runtime's schema (migration
// 0009). Dequeue locks its candidates FOR UPDATE SKIP LOCKED and stamps
// them with a new receipt and visibility in one statement, so any number of
// processes share a queue without waiting for each other and no message
// has two live holders. Its EnqueueTx enqueues in the caller's transaction,
// so a business write and its job commit together. Times are the
// database's now(). worker/queue/memory is an in-process store with an
// injectable worker.Clock, for tests. Both pass worker/queue/queuetest.
package queue

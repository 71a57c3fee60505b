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
// A holder that will not handle a delivery hands it back with Release:
// ready at once, and the delivery does not count as an attempt. AckMany
// acks a batch in one round trip, reporting the stale receipts instead of
// failing.
//
// # Attempts and dead letters
//
// Attempts counts deliveries. A message nacked on its queue's MaxAttempts-th
// delivery, or whose visibility runs out on it, goes to the queue's dead
// letters with its last error (the nack's cause, or the expiry); Fail sends
// it there at once, whatever attempts remain. Dead letters are listed,
// requeued (ready again, attempts reset) or discarded.
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
// # Consumers
//
// A Consumer declares a push handler for one queue: Handle decodes the
// payload into a Go type (HandleRaw does not), Concurrency bounds the
// handlers running at once in the process, Backoff spaces the retries,
// AttemptTimeout bounds one attempt. A Runner runs consumers:
//
//	r, err := queue.NewRunner(store, queue.RunnerConfig{},
//		queue.NewConsumer("emails", queue.Handle(sendEmail), queue.Concurrency(20)))
//	…
//	err = r.Run(ctx) // until ctx ends, then a graceful stop
//
// Per consumer, one dequeue loop feeds Concurrency worker goroutines. It
// dequeues only for free workers (a process never holds more messages than
// it is running, so the rest stay with other processes), and, under a
// backlog, gathers workers freed within half a millisecond into one
// dequeue. Idle, it sleeps until a store notification (queue.Notifier: an
// enqueue, a message ready again, a reconnect), until the queue's next
// available time (NextAvailable: a delayed message, a retry, a visibility
// running out), or for PollInterval at most, whichever comes first.
//
// A handler's outcome settles its delivery: success acks it (under a
// backlog, with the consumer's next dequeue when the store is an
// AckDequeuer: one commit per batch; otherwise acks of all consumers are
// batched through AckMany, flushed as soon as the previous flush returns:
// no added latency when idle, bigger batches under load);
// an error nacks it with the backoff's delay for that attempt, and the
// store dead-letters it on the queue's last attempt (attempts are counted
// by the store, across processes and crashes); a Permanent error or a
// payload that does not decode fails it straight to the dead letters; a
// panic is an error. Settling retries through database outages, so a
// handled message is not handled again because of a blip.
//
// A handler running past half its visibility has it extended by one
// extender per consumer (one timer, not one per message). If the store
// says the receipt is stale — the visibility ran out anyway and another
// consumer took the message — the handler's ctx is cancelled (cause
// ErrStaleReceipt) and its result is dropped: the new holder settles the
// message.
//
// When Run's ctx ends, the loop stops dequeuing; handlers in flight get
// StopTimeout to finish (and their acks are flushed); then their ctx is
// cancelled and their messages released, not counted as an attempt. Run
// returns once every message it held is settled.
//
// Logs name the queue, the message id and the attempt, never the receipt:
// whoever has a receipt can settle its delivery.
//
// # Stores
//
// worker/queue/postgres stores queues in the runtime's schema (migration
// 0009). Dequeue locks its candidates FOR UPDATE SKIP LOCKED and stamps
// them with a new receipt and visibility in one statement, so any number of
// processes share a queue without waiting for each other and no message
// has two live holders. Its EnqueueTx enqueues in the caller's transaction,
// so a business write and its job commit together. Times are the
// database's now(). Enqueue NOTIFYs consumers in other processes after its
// commit (through a coalescing sender, never inside the enqueue's
// transaction: NOTIFY takes a cluster-wide lock at commit), EnqueueTx in
// the caller's transaction; one LISTEN connection per store wakes the
// store's subscribers. worker/queue/memory is an in-process store with an
// injectable worker.Clock, for tests; a Runner given the same clock sleeps
// and retries on it. Both pass worker/queue/queuetest.
package queue

// Package worker is Causeway's subscription engine: it runs subscriptions
// (consumer groups) over the event log, in one process or many sharing the
// work through PostgreSQL.
//
// # Declaring a subscription
//
// A subscription is a name and options; typed handlers take the event decoded
// into an eventlog.Envelope[T], and the event type is T's (eventlog.Named):
//
//	audit := worker.NewSubscription("audit",
//		worker.On(func(ctx context.Context, d *worker.Delivery, e eventlog.Envelope[OrderPlaced]) error {
//			return mail(ctx, d.IdempotencyKey(), e.Data.Customer)
//		}),
//		worker.Mode(worker.AtLeastOnce),
//		worker.Retry(worker.RetryPolicy{MaxAttempts: 10}),
//	)
//	w, err := worker.New(worker.Config{Log: log, Checkpoints: checkpoints}, audit)
//
// With typed handlers only, the subscription reads just their types; OnAny
// takes every event (narrow it with Categories or Filter). Upcasting is the
// log's: give the worker an eventlog.UpcastStore and handlers see current
// shapes only, and an event whose upcaster fails is dead-lettered.
//
// # Shape of a running subscription
//
// Each process runs, per subscription, one membership loop, one reader and
// one goroutine per partition it owns:
//
//   - The membership loop heartbeats the process's membership, renews its
//     partition leases, and claims or releases partitions so that each of the
//     live members owns at most ceil(partitions / members). Leases that
//     expire (a member died) are taken over by the others.
//   - The reader reads the log once for the whole process, from the lowest
//     checkpoint among its partitions, and hands each event to the partition
//     of its key (hash(key) mod partitions) through a bounded channel, so a
//     slow partition slows the reader down instead of filling memory.
//   - A partition goroutine handles its events in order, in batches bounded
//     by count and by duration (BatchSize, BatchMaxDuration), and moves its
//     checkpoint: in transactional mode inside the transaction the handler
//     wrote with; in at-least-once mode every N events or T. While the
//     reader is catching up, a partition waits briefly for the reader's
//     next slice before it starts a batch (nothing is open meanwhile), so
//     many partitions still commit full batches rather than one
//     transaction per read.
//
// # Fencing
//
// Every checkpoint write is conditional on the epoch the lease was claimed
// with. A process that paused past its lease and lost the partition cannot
// commit: its transaction rolls back and the partition goroutine stops.
//
// # Failures
//
// A failed handler is retried with exponential backoff and jitter
// (github.com/sethvargo/go-retry); no transaction stays open while it waits.
// Errors marked Permanent skip the retries; panics are failures, not crashes.
// Connection-level errors (PostgreSQL restarting) are retried without limit
// and never count as attempts. When attempts run out the event is
// dead-lettered, and so is every later event of the same key in the
// subscription (per-key order is never broken) while other keys go on. An
// operator retries a key's dead letters (re-delivered in order; the key
// resumes when all succeed) or discards them (see DeadLetters). When the
// number of dead letters reaches the subscription's cap, the partition stops
// at the failing event in a visible "halted" state instead of dead-lettering
// more.
package worker

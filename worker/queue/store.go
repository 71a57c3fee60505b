package queue

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store is a queue store. Implementations: worker/queue/postgres and
// worker/queue/memory; both pass the suite in worker/queue/queuetest.
type Store interface {
	// Declare creates the queue or updates its configuration.
	Declare(ctx context.Context, name string, opts ...Option) (Config, error)
	// Queue returns a declared queue's configuration (ErrUnknownQueue).
	Queue(ctx context.Context, name string) (Config, error)
	// Queues returns every declared queue, by name.
	Queues(ctx context.Context) ([]Config, error)

	// Enqueue stores msgs in one transaction: all or none. The result has
	// one entry per message, in order.
	Enqueue(ctx context.Context, queue string, msgs ...Outgoing) ([]Enqueued, error)

	// Dequeue delivers up to n ready messages (available now), highest
	// priority first, then the longest ready, each invisible to other
	// consumers for visibility (0: the queue's timeout). It returns what is
	// ready without waiting; an empty result means none is. A message whose
	// visibility ran out with no attempts left goes to the dead letters
	// here instead of being delivered.
	Dequeue(ctx context.Context, queue string, n int, visibility time.Duration) ([]Delivery, error)
	// Ack settles a delivery: the message is deleted (or kept for the
	// queue's retention). ErrStaleReceipt if r is not the current delivery.
	Ack(ctx context.Context, r Receipt) error
	// Nack returns a delivery: the message is available again after delay,
	// or, with no attempts left, goes to the dead letters with cause as its
	// last error. It reports whether the message went to the dead letters.
	Nack(ctx context.Context, r Receipt, delay time.Duration, cause error) (dead bool, err error)
	// Extend makes a delivery invisible for d from now, and returns the new
	// VisibleUntil.
	Extend(ctx context.Context, r Receipt, d time.Duration) (time.Time, error)

	// DeadLetters lists a queue's dead letters by id after after (uuid.Nil:
	// from the start), up to limit.
	DeadLetters(ctx context.Context, queue string, after uuid.UUID, limit int) ([]DeadLetter, error)
	// DeadLetter returns one dead letter of a queue (ErrNotFound when the
	// queue holds no dead letter with that id, live messages included).
	DeadLetter(ctx context.Context, queue string, id uuid.UUID) (DeadLetter, error)
	// Requeue makes a dead letter a ready message again, with no attempts.
	Requeue(ctx context.Context, queue string, id uuid.UUID) error
	// Discard deletes a dead letter.
	Discard(ctx context.Context, queue string, id uuid.UUID) error

	// Stats describes a queue's contents.
	Stats(ctx context.Context, queue string) (Stats, error)
	// Purge deletes acked messages past their queue's retention and
	// expired deduplication keys, and returns how many rows it removed.
	Purge(ctx context.Context) (int64, error)
}

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
	// Release hands a delivery back unhandled (a consumer stopping, or one
	// that took a message it never started): the message is ready at once
	// and the delivery does not count as an attempt. ErrStaleReceipt as Ack.
	Release(ctx context.Context, r Receipt) error
	// Fail sends a delivery's message to the dead letters at once, with
	// cause as its last error, whatever attempts remain: for errors no
	// retry can fix (a permanent error, a payload that does not decode).
	// ErrStaleReceipt as Ack.
	Fail(ctx context.Context, r Receipt, cause error) error
	// AckMany acks a batch of deliveries in one round trip. The receipts
	// that no longer name a current delivery are returned in stale, in the
	// order given (that is not an error); the others are acked.
	AckMany(ctx context.Context, rs []Receipt) (stale []Receipt, err error)
	// NextAvailable returns the earliest available time of the queue's live
	// messages (neither acked nor dead): when a delayed message, a nack's
	// retry or an in-flight message's visibility is next due. A consumer
	// that found nothing ready sleeps until then. ok is false when the
	// queue has no live message.
	NextAvailable(ctx context.Context, queue string) (t time.Time, ok bool, err error)

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

// Notifier is implemented by stores that can wake a consumer when a queue
// may have a message for it, instead of letting it poll.
type Notifier interface {
	// Subscribe returns a channel that receives (coalesced: it holds at
	// most one value) after an enqueue to queue commits, after one of its
	// messages becomes ready again by a nack without delay, a release or a
	// requeue, and after the store's notification connection (re)connects,
	// since what was sent while it was down is lost. A wake is a hint: the
	// receiver dequeues and may find nothing. cancel ends the subscription.
	Subscribe(queue string) (wake <-chan struct{}, cancel func())
}

// AckDequeuer is implemented by stores that can ack a batch and dequeue in
// one round trip and one commit. Under a backlog the Runner acks its
// handled messages with its next dequeue through it, instead of a commit
// of each.
type AckDequeuer interface {
	// AckDequeue is AckMany(rs) then Dequeue(queue, n, visibility), atomic:
	// on an error neither took effect (unless the connection broke while
	// committing, as with any statement). It may leave reporting
	// ErrUnknownQueue, when nothing was ready, to the next Dequeue.
	AckDequeue(ctx context.Context, rs []Receipt, queue string, n int, visibility time.Duration) (stale []Receipt, ds []Delivery, err error)
}

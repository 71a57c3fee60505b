package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/causewayhq/causeway/worker"
)

// DefaultConcurrency is how many handlers of one consumer run at once in a
// process unless Concurrency says otherwise.
const DefaultConcurrency = 10

// ErrInvalidConsumer matches every declaration mistake of a Consumer.
var ErrInvalidConsumer = errors.New("queue: invalid consumer")

// Envelope is a delivery with its payload decoded into T.
type Envelope[T any] struct {
	Delivery
	Data T
}

// Consumer declares a push consumer of one queue: its handler and
// settings. Build it with NewConsumer and run it with a Runner:
//
//	emails := queue.NewConsumer("emails",
//		queue.Handle(func(ctx context.Context, m queue.Envelope[Email]) error { … }),
//		queue.Concurrency(20),
//	)
//
// A Consumer is a value: declare it once, then give it to NewRunner.
type Consumer struct {
	queue       string
	handler     func(context.Context, Delivery) error
	concurrency int
	backoff     RetryBackoff
	timeout     time.Duration
	visibility  time.Duration
	errs        []error
}

// ConsumerOption declares part of a Consumer.
type ConsumerOption func(*Consumer)

// NewConsumer declares a consumer of queue. Mistakes (a bad queue name, no
// handler, bad settings) are reported by Err and by NewRunner.
func NewConsumer(queue string, opts ...ConsumerOption) Consumer {
	c := Consumer{queue: queue, concurrency: DefaultConcurrency, backoff: DefaultRetryBackoff}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Queue is the consumed queue's name.
func (c Consumer) Queue() string { return c.queue }

// Err reports declaration mistakes.
func (c Consumer) Err() error {
	errs := slices.Clone(c.errs)
	if err := ValidateName(c.queue); err != nil {
		errs = append(errs, fmt.Errorf("%w %q: %w", ErrInvalidConsumer, c.queue, err))
	}
	if c.handler == nil {
		c.bad(&errs, "no handler (Handle or HandleRaw)")
	}
	return errors.Join(errs...)
}

func (c *Consumer) bad(errs *[]error, format string, args ...any) {
	*errs = append(*errs, fmt.Errorf("%w %q: %s", ErrInvalidConsumer, c.queue, fmt.Sprintf(format, args...)))
}

func (c *Consumer) setHandler(h func(context.Context, Delivery) error) {
	if c.handler != nil {
		c.bad(&c.errs, "two handlers")
		return
	}
	c.handler = h
}

// Handle handles the queue's messages with their payload decoded into T
// (encoding/json). A payload that does not decode is a permanent failure:
// the message goes to the dead letters at once.
//
// The handler's error fails the attempt: the message is retried after the
// consumer's Backoff, until the queue's MaxAttempts, then dead-lettered.
// Wrap it with Permanent to dead-letter at once. A panic is an error. The
// handler's ctx ends at the consumer's AttemptTimeout, at a graceful stop's
// StopTimeout, or when the delivery's visibility ran out and the message
// went to another consumer (see Runner).
func Handle[T any](fn func(ctx context.Context, m Envelope[T]) error) ConsumerOption {
	return func(c *Consumer) {
		if fn == nil {
			c.bad(&c.errs, "nil handler")
			return
		}
		c.setHandler(func(ctx context.Context, d Delivery) error {
			var v T
			if err := json.Unmarshal(d.Payload, &v); err != nil {
				return Permanent(fmt.Errorf("queue %s: message %s: decode payload into %T: %w", d.Queue, d.ID, v, err))
			}
			return fn(ctx, Envelope[T]{Delivery: d, Data: v})
		})
	}
}

// HandleRaw handles the queue's messages undecoded; see Handle.
func HandleRaw(fn func(ctx context.Context, d Delivery) error) ConsumerOption {
	return func(c *Consumer) {
		if fn == nil {
			c.bad(&c.errs, "nil handler")
			return
		}
		c.setHandler(fn)
	}
}

// Concurrency is how many handlers of this consumer run at once in this
// process (default DefaultConcurrency). It is also the most messages the
// process holds: it dequeues only for free handlers.
func Concurrency(n int) ConsumerOption {
	return func(c *Consumer) {
		if n < 1 {
			c.bad(&c.errs, "concurrency %d: must be at least 1", n)
			return
		}
		c.concurrency = n
	}
}

// Backoff sets the delay before a failed message's next attempt (default
// DefaultRetryBackoff).
func Backoff(b RetryBackoff) ConsumerOption {
	return func(c *Consumer) {
		if err := b.validate(); err != nil {
			c.bad(&c.errs, "backoff: %v", err)
			return
		}
		c.backoff = b
	}
}

// AttemptTimeout bounds one attempt: the handler's ctx ends after d, and
// the attempt fails unless the handler returns nil anyway (0: no bound).
func AttemptTimeout(d time.Duration) ConsumerOption {
	return func(c *Consumer) {
		if d < 0 {
			c.bad(&c.errs, "negative attempt timeout")
			return
		}
		c.timeout = d
	}
}

// Visibility sets how long each delivery is invisible to other consumers
// (0: the queue's VisibilityTimeout, read when the Runner starts). A
// handler running past half of it has it extended, so it needs to cover
// only a crashed process's messages coming back, not the longest handler.
func Visibility(d time.Duration) ConsumerOption {
	return func(c *Consumer) {
		if d != 0 && d < time.Millisecond {
			c.bad(&c.errs, "visibility %v: negative or under 1ms", d)
			return
		}
		c.visibility = d
	}
}

// Permanent marks err as permanent: the message goes to the dead letters
// without further attempts. Permanent(nil) is nil. It is worker.Permanent,
// so one error type serves subscriptions and queues.
func Permanent(err error) error { return worker.Permanent(err) }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool { return worker.IsPermanent(err) }

package queue

import (
	"context"
	"errors"
	"runtime/debug"
	"time"

	"github.com/causewayhq/causeway/worker"
)

// handle runs one delivery through the handler and settles it. It returns
// when a retry of it is due (zero: none).
func (c *consumerRun) handle(d Delivery) time.Time {
	if c.stopping.Load() {
		// Taken by the last dequeue of a stop: hand it back unstarted.
		c.release(d, 0)
		return time.Time{}
	}
	ctx, cancel := context.WithCancelCause(c.hctx)
	defer cancel(nil)
	hctx := ctx
	if c.c.timeout > 0 {
		var cancelT context.CancelFunc
		hctx, cancelT = context.WithTimeout(ctx, c.c.timeout)
		defer cancelT()
	}
	h := c.ext.add(d, cancel)
	start := time.Now()
	err := call(hctx, c.c.handler, d)
	took := time.Since(start)
	if c.ext.remove(h) {
		// Another consumer holds the message now: whatever this one
		// did, settling is up to that one.
		c.r.handled(d.Queue, Stale, took)
		return time.Time{}
	}
	switch {
	case err == nil:
		x := ack{receipt: d.Receipt, queue: d.Queue, id: d.ID, attempt: d.Attempts, took: took}
		if c.ad == nil || !c.box.put(x) {
			c.a.add(x)
		}
	case context.Cause(c.hctx) != nil:
		// The stop's timeout cut it short: not the message's fault.
		c.release(d, took)
	case IsPermanent(err):
		c.fail(d, err, took)
	default:
		return c.nack(d, err, took)
	}
	return time.Time{}
}

// call runs the handler, turning a panic into a *worker.PanicError.
func call(ctx context.Context, h func(context.Context, Delivery) error, d Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &worker.PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return h(ctx, d)
}

// attrs name a delivery in logs: never its receipt.
func attrs(d Delivery, more ...any) []any {
	return append([]any{"queue", d.Queue, "message_id", d.ID, "attempt", d.Attempts}, more...)
}

func errAttrs(d Delivery, err error, more ...any) []any {
	a := attrs(d, append([]any{"err", err}, more...)...)
	if p, ok := errors.AsType[*worker.PanicError](err); ok {
		a = append(a, "stack", string(p.Stack))
	}
	return a
}

func (c *consumerRun) nack(d Delivery, cause error, took time.Duration) time.Time {
	delay := c.c.backoff.Delay(d.Attempts)
	var dead bool
	err := c.r.retrying(c.settle, "nack", attrs(d), func(ctx context.Context) error {
		var err error
		dead, err = c.r.store.Nack(ctx, d.Receipt, delay, cause)
		return err
	})
	switch {
	case errors.Is(err, ErrStaleReceipt):
		c.stale(d, took)
	case err != nil:
		c.log.Error("causeway: queue: handler failed and the nack was lost; the message comes back when its visibility runs out",
			errAttrs(d, cause, "nack_err", err)...)
		c.r.handled(d.Queue, Retried, took)
	case dead:
		c.log.Error("causeway: queue: handler failed on the last attempt; message dead-lettered", errAttrs(d, cause)...)
		c.r.handled(d.Queue, Dead, took)
	default:
		c.log.Warn("causeway: queue: handler failed; retrying", errAttrs(d, cause, "retry_in", delay)...)
		c.r.handled(d.Queue, Retried, took)
		return c.r.cfg.Clock.Now().Add(delay)
	}
	return time.Time{}
}

func (c *consumerRun) fail(d Delivery, cause error, took time.Duration) {
	err := c.r.retrying(c.settle, "fail", attrs(d), func(ctx context.Context) error {
		return c.r.store.Fail(ctx, d.Receipt, cause)
	})
	switch {
	case errors.Is(err, ErrStaleReceipt):
		c.stale(d, took)
	case err != nil:
		c.log.Error("causeway: queue: permanent failure, but the dead-lettering was lost; the message comes back when its visibility runs out",
			errAttrs(d, cause, "fail_err", err)...)
		c.r.handled(d.Queue, Retried, took)
	default:
		c.log.Error("causeway: queue: permanent failure; message dead-lettered", errAttrs(d, cause)...)
		c.r.handled(d.Queue, Dead, took)
	}
}

func (c *consumerRun) release(d Delivery, took time.Duration) {
	err := c.r.retrying(c.settle, "release", attrs(d), func(ctx context.Context) error {
		return c.r.store.Release(ctx, d.Receipt)
	})
	switch {
	case errors.Is(err, ErrStaleReceipt):
		c.stale(d, took)
	case err != nil:
		c.log.Warn("causeway: queue: release lost at stop; the message comes back when its visibility runs out", attrs(d, "err", err)...)
		c.r.handled(d.Queue, Released, took)
	default:
		c.r.handled(d.Queue, Released, took)
	}
}

func (c *consumerRun) stale(d Delivery, took time.Duration) {
	c.log.Warn("causeway: queue: the visibility ran out and the message went to another consumer; result dropped", attrs(d)...)
	c.r.handled(d.Queue, Stale, took)
}

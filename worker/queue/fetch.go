package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/causewayhq/causeway/internal/backoff"
)

var (
	// errStopTimeout is the cause of a handler's ctx cancelled by a stop.
	errStopTimeout = errors.New("queue: consumer stopping: stop timeout reached")
	// errTakenOver is the cause of a handler's ctx cancelled because its
	// delivery went stale.
	errTakenOver = fmt.Errorf("%w: the visibility ran out and another consumer took the message", ErrStaleReceipt)
)

// gatherWindow bounds how long a fetcher under a backlog waits for all its
// workers to be free before dequeuing for those that are (real time: it
// is about scheduling, like batching). Handlers finishing together (short
// ones) then share one dequeue instead of a round trip each; a handler
// slower than this costs its worker at most this much idle time.
const gatherWindow = 500 * time.Microsecond

// consumerRun is one consumer running: a dequeue loop (fetch) feeding
// Concurrency worker goroutines, and an extender for their visibility.
type consumerRun struct {
	r   *Runner
	c   Consumer
	vis time.Duration
	log *slog.Logger

	a       *acker
	settle  context.Context // outlives the run's ctx until the stop's deadline
	hctx    context.Context // the handlers' base ctx, cancelled by a stop's timeout
	hcancel context.CancelCauseFunc
	ext     *extender
	ad      AckDequeuer // the store, if it is one: acks ride on dequeues
	box     ackBox      // acks for the next dequeue (with ad)

	stopping atomic.Bool
	work     chan Delivery
	done     chan time.Time // a worker is free again; non-zero: a retry is due then
}

// run runs the consumer until ctx ends and it has stopped; it returns how
// many handlers it had to abandon.
func (c *consumerRun) run(ctx, settle context.Context, a *acker) int {
	c.log = c.r.cfg.Logger
	c.a, c.settle = a, settle
	c.hctx, c.hcancel = context.WithCancelCause(context.WithoutCancel(ctx))
	defer c.hcancel(nil)
	c.work = make(chan Delivery)
	c.done = make(chan time.Time, c.c.concurrency)
	c.ext = newExtender(c)
	c.ad, _ = c.r.store.(AckDequeuer)
	go c.ext.run()
	var wg sync.WaitGroup
	for range c.c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range c.work {
				c.done <- c.handle(d)
			}
		}()
	}

	busy := c.fetch(ctx)
	c.box.close(a) // no more dequeues: later acks go to the acker
	c.stopping.Store(true)
	abandoned := c.drain(busy)
	close(c.work)
	if abandoned == 0 {
		wg.Wait()
	}
	c.ext.close()
	return abandoned
}

// fetch is the dequeue loop. It dequeues for the free workers only, then
// sleeps until a notification, a worker freed while more may be ready, the
// next due time (NextAvailable, or a retry this consumer scheduled), or
// PollInterval. It returns the number of busy workers when ctx ends.
func (c *consumerRun) fetch(ctx context.Context) (busy int) {
	var wake <-chan struct{}
	if n, ok := c.r.store.(Notifier); ok {
		w, cancel := n.Subscribe(c.c.queue)
		defer cancel()
		wake = w
	}
	clock, q, conc := c.r.cfg.Clock, c.c.queue, c.c.concurrency
	timer := clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var timerAt time.Time // when timer fires; zero: stopped
	arm := func(at time.Time) {
		if timerAt.IsZero() || at.Before(timerAt) {
			timerAt = at
			timer.Reset(at.Sub(clock.Now()))
		}
	}
	// spin paces re-dequeues when a message is due but was not delivered
	// (another consumer's dequeue had it locked, or the clocks of this
	// process and the database disagree).
	spin := backoff.New(time.Millisecond, c.r.cfg.PollInterval)
	errWait := backoff.New(50*time.Millisecond, 5*time.Second)
	// Under a backlog, workers free up in bursts: the fetcher gathers them
	// for up to gatherWindow so that one dequeue fills them all, instead
	// of a round trip per worker.
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	defer gather.Stop()
	var gatherC <-chan time.Time
	gathered, backlog := false, false
	need := true // the queue may have ready messages
	for {
		// Collect every freed worker first, so one dequeue fills them all.
	collect:
		for {
			select {
			case at := <-c.done:
				busy--
				if !at.IsZero() {
					arm(at)
				}
			default:
				break collect
			}
		}
		free := conc - busy
		switch {
		case !need || free == 0 || ctx.Err() != nil:
		case backlog && free < conc && !gathered:
			if gatherC == nil {
				gather.Reset(gatherWindow)
				gatherC = gather.C
			}
		default:
			gather.Stop()
			gatherC, gathered = nil, false
			ds, err := c.dequeue(free)
			if err != nil {
				wait := errWait.Next()
				c.log.Warn("causeway: queue: dequeue failed; retrying", "queue", q, "err", err, "retry_in", wait)
				if !sleep(ctx, wait) {
					return busy
				}
				continue
			}
			errWait.Reset()
			for _, d := range ds {
				busy++
				c.work <- d
			}
			if backlog = len(ds) == free; backlog {
				spin.Reset()
				continue // more may be ready: dequeue again once workers are free
			}
			need = false
			now := clock.Now()
			at := now.Add(c.r.cfg.PollInterval)
			next, ok, err := c.r.store.NextAvailable(ctx, q)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					c.log.Debug("causeway: queue: next available failed; polling", "queue", q, "err", err)
				}
			case !ok:
			case next.After(now):
				spin.Reset()
				at = minTime(at, next)
			default:
				at = minTime(at, now.Add(spin.Next()))
			}
			timerAt = time.Time{}
			arm(at)
		}
		if gatherC == nil {
			// No dequeue is due before a worker frees up or the queue
			// wakes: the acks go out on their own.
			c.box.handOff(c.a)
		}
		select {
		case <-ctx.Done():
			return busy
		case <-wake:
			need = true
		case <-timer.C():
			timerAt = time.Time{}
			need = true
		case <-gatherC:
			gatherC, gathered = nil, true
		case at := <-c.done:
			busy--
			if !at.IsZero() {
				arm(at)
			}
		}
	}
}

// dequeue dequeues up to n messages on the settle ctx (one cancelled
// midway by a stop could take messages and lose their receipts). With an
// AckDequeuer store, the acks in the box go with it; if it fails, they go
// to the acker, which retries them.
func (c *consumerRun) dequeue(n int) ([]Delivery, error) {
	q := c.c.queue
	if c.ad == nil {
		return c.r.store.Dequeue(c.settle, q, n, c.vis)
	}
	acks := c.box.take()
	if len(acks) == 0 {
		return c.r.store.Dequeue(c.settle, q, n, c.vis)
	}
	rs := make([]Receipt, len(acks))
	for i, x := range acks {
		rs[i] = x.receipt
	}
	stale, ds, err := c.ad.AckDequeue(c.settle, rs, q, n, c.vis)
	if err != nil {
		for _, x := range acks {
			c.a.add(x)
		}
		return nil, err
	}
	c.a.settled(acks, stale)
	return ds, nil
}

// drain waits for the busy workers at a stop: StopTimeout for their
// handlers to finish, then it cancels their ctx (they release their
// messages) and waits settleGrace more. It returns how many never
// returned.
func (c *consumerRun) drain(busy int) int {
	if busy == 0 {
		return 0
	}
	t := time.NewTimer(c.r.cfg.StopTimeout)
	defer t.Stop()
	var grace <-chan time.Time
	for busy > 0 {
		select {
		case <-c.done:
			busy--
		case <-t.C:
			c.log.Warn("causeway: queue: stop timeout; cancelling handlers and releasing their messages",
				"queue", c.c.queue, "in_flight", busy)
			c.hcancel(errStopTimeout)
			g := time.NewTimer(settleGrace)
			defer g.Stop()
			grace = g.C
		case <-grace:
			c.log.Error("causeway: queue: handlers did not return after their ctx was cancelled; abandoning them",
				"queue", c.c.queue, "handlers", busy)
			return busy
		}
	}
	return 0
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

package queue

import (
	"context"
	"errors"
	"sync"
	"time"
)

// extender keeps a consumer's slow handlers' messages invisible: once a
// handler has run half its delivery's visibility, it extends the delivery
// by a full visibility, and again half of that later, for as long as the
// handler runs. If the store says the receipt is stale (the visibility ran
// out anyway and another consumer took the message), it cancels the
// handler's ctx.
//
// One goroutine and one timer per consumer, not per message: a handler
// registers its delivery (a map insert) and the timer is re-armed only
// when the new deadline is the earliest, which it rarely is (later
// deliveries are due later).
type extender struct {
	c    *consumerRun
	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	holds map[*hold]struct{}
	armed time.Time // when the loop next wakes; zero: not armed
}

// hold is one running handler's delivery.
type hold struct {
	d      Delivery
	due    time.Time // next extension, on the runner's clock
	cancel context.CancelCauseFunc
	stale  bool
	busy   bool // an Extend is in flight
}

func newExtender(c *consumerRun) *extender {
	return &extender{c: c, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		holds: map[*hold]struct{}{}}
}

func (e *extender) add(d Delivery, cancel context.CancelCauseFunc) *hold {
	h := &hold{d: d, due: e.c.r.cfg.Clock.Now().Add(e.c.vis / 2), cancel: cancel}
	e.mu.Lock()
	e.holds[h] = struct{}{}
	kick := e.armed.IsZero() || h.due.Before(e.armed)
	e.mu.Unlock()
	if kick {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
	return h
}

// remove forgets h, and reports whether its delivery went stale.
func (e *extender) remove(h *hold) (stale bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.holds, h)
	return h.stale
}

func (e *extender) run() {
	defer close(e.done)
	clock := e.c.r.cfg.Clock
	timer := clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		e.mu.Lock()
		now := clock.Now()
		var due []*hold
		var next time.Time
		for h := range e.holds {
			switch {
			case h.busy:
			case !h.due.After(now):
				h.busy = true
				due = append(due, h)
			case next.IsZero() || h.due.Before(next):
				next = h.due
			}
		}
		if len(due) > 0 {
			next = now // look again once these are extended
		}
		e.armed = next
		e.mu.Unlock()
		for _, h := range due {
			e.extend(h)
		}
		if len(due) > 0 {
			continue
		}
		if !next.IsZero() {
			timer.Reset(next.Sub(now))
		}
		select {
		case <-e.stop:
			return
		case <-e.kick:
			timer.Stop()
		case <-timer.C():
		}
	}
}

func (e *extender) extend(h *hold) {
	vis := e.c.vis
	// Bounded, so that one hung call does not hold up the others' turns.
	ctx, cancel := context.WithTimeout(e.c.settle, max(vis/4, time.Second))
	_, err := e.c.r.store.Extend(ctx, h.d.Receipt, vis)
	cancel()
	e.mu.Lock()
	defer e.mu.Unlock()
	h.busy = false
	if _, running := e.holds[h]; !running {
		return // the handler returned meanwhile: nothing to keep
	}
	now := e.c.r.cfg.Clock.Now()
	switch {
	case err == nil:
		h.due = now.Add(vis / 2)
	case errors.Is(err, ErrStaleReceipt):
		h.stale = true
		delete(e.holds, h)
		h.cancel(errTakenOver)
		e.c.log.Warn("causeway: queue: the visibility ran out and another consumer took the message; cancelling the handler", attrs(h.d)...)
	default:
		// Try again soon, while some visibility is left.
		h.due = now.Add(vis / 10)
		e.c.log.Warn("causeway: queue: extending the visibility failed; retrying", attrs(h.d, "err", err)...)
	}
}

func (e *extender) close() {
	close(e.stop)
	<-e.done
}

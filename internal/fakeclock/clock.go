// Package fakeclock is a worker.Clock that tests move by hand: the test
// kit's clock (runtime/testkit re-exports it) and the engine packages' own
// tests share it.
package fakeclock

import (
	"slices"
	"sync"
	"time"

	"github.com/causewayhq/causeway/worker"
)

// Epoch is a fixed instant for a clock to start at, so a test's times do
// not depend on when it runs, and far from the real time, so a component
// reading the real clock where it should read the fake one shows up as a
// retry that never comes due.
var Epoch = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// Clock is a fake worker.Clock: time stands still until Advance or Set
// moves it, and then every timer whose time has come fires. It is safe for
// concurrent use. Moving it does not wait for what became due to be done.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer // pending, unordered
}

var _ worker.Clock = (*Clock)(nil)

// NewClock returns a clock standing at start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now implements worker.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer implements worker.Clock.
func (c *Clock) NewTimer(d time.Duration) worker.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d (a negative d does nothing) and
// fires the timers now due.
func (c *Clock) Advance(d time.Duration) {
	c.Set(c.Now().Add(d))
}

// Set moves the clock to t, if t is later than now, and fires the timers
// now due. Time never goes back: a durable schedule is never "un-due".
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.After(c.now) {
		return
	}
	c.now = t
	c.timers = slices.DeleteFunc(c.timers, func(x *timer) bool {
		if x.at.After(t) {
			return false
		}
		x.fire(t)
		return true
	})
}

// Pending reports whether a timer is set to fire exactly at at.
func (c *Clock) Pending(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.ContainsFunc(c.timers, func(x *timer) bool { return x.at.Equal(at) })
}

// NextTimer returns when the earliest pending timer fires.
func (c *Clock) NextTimer() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	for _, x := range c.timers {
		if next.IsZero() || x.at.Before(next) {
			next = x.at
		}
	}
	return next, !next.IsZero()
}

// timer is a Clock's timer. Its channel holds at most one value and is
// drained by Stop and Reset, as a *time.Timer's is since Go 1.23.
type timer struct {
	c  *Clock
	ch chan time.Time
	at time.Time // when pending
}

func (t *timer) C() <-chan time.Time { return t.ch }

// fire sends the time without blocking (the channel was drained when the
// timer was set, so there is room); the clock's lock is held.
func (t *timer) fire(now time.Time) {
	select {
	case t.ch <- now:
	default:
	}
}

// pending reports whether t is waiting to fire; the clock's lock is held.
func (t *timer) pending() bool { return slices.Contains(t.c.timers, t) }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.pending()
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *timer) bool { return x == t })
	t.drain()
	return was
}

func (t *timer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.pending()
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *timer) bool { return x == t })
	t.drain()
	t.at = t.c.now.Add(d)
	if d <= 0 {
		t.fire(t.c.now)
		return was
	}
	t.c.timers = append(t.c.timers, t)
	return was
}

func (t *timer) drain() {
	select {
	case <-t.ch:
	default:
	}
}

package queue_test

import (
	"slices"
	"sync"
	"time"

	"github.com/causewayhq/causeway/worker"
)

// fakeClock is a worker.Clock that stands still until advance moves it;
// then the timers due fire. Timers have *time.Timer's Go 1.23 semantics
// (Stop and Reset drain).
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

var _ worker.Clock = (*fakeClock)(nil)

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) worker.Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// set moves the clock to at (never back) and fires the timers due.
func (c *fakeClock) set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !at.After(c.now) {
		return
	}
	c.now = at
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool {
		if t.at.After(at) {
			return false
		}
		t.fire(at)
		return true
	})
}

func (c *fakeClock) advance(d time.Duration) { c.set(c.Now().Add(d)) }

// pendingAt reports whether a timer is set to fire exactly at at.
func (c *fakeClock) pendingAt(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.ContainsFunc(c.timers, func(t *fakeTimer) bool { return t.at.Equal(at) })
}

type fakeTimer struct {
	c  *fakeClock
	ch chan time.Time
	at time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) fire(now time.Time) {
	select {
	case t.ch <- now:
	default:
	}
}

func (t *fakeTimer) unlink() bool {
	n := len(t.c.timers)
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *fakeTimer) bool { return x == t })
	select {
	case <-t.ch:
	default:
	}
	return len(t.c.timers) < n
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.unlink()
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.unlink()
	t.at = t.c.now.Add(d)
	if d <= 0 {
		t.fire(t.c.now)
	} else {
		t.c.timers = append(t.c.timers, t)
	}
	return was
}

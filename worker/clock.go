package worker

import "time"

// Clock is the time source of durable timing: when a failed event is due
// for its next attempt here, and when a saga's step retry or wait timeout
// is due in package saga. The default, SystemClock, is the real one; a test
// gives a fake (runtime/testkit's) to fire retries and timeouts by moving
// time instead of waiting for it.
//
// Only application time goes through a Clock. Leases, heartbeats, batching
// and shutdown deadlines are about live processes and stay on real time,
// and so do step deadlines (a context cannot be cancelled by a fake clock).
// A fake clock is meant for the memory stores: PostgreSQL stamps some times
// with its own now().
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once d has passed on this clock.
	NewTimer(d time.Duration) Timer
}

// Timer is a Clock's one-shot timer, with the semantics of a *time.Timer
// since Go 1.23: after Stop or Reset returns, no stale value is received.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.Timer.C }

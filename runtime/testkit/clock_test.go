package testkit_test

import (
	"testing"
	"time"

	"github.com/causewayhq/causeway/runtime/testkit"
)

func fired(tm interface{ C() <-chan time.Time }) (time.Time, bool) {
	select {
	case at := <-tm.C():
		return at, true
	default:
		return time.Time{}, false
	}
}

func TestClockTimers(t *testing.T) {
	c := testkit.NewClock(testkit.Epoch)
	a, b := c.NewTimer(time.Minute), c.NewTimer(2*time.Minute)
	if next, ok := c.NextTimer(); !ok || !next.Equal(testkit.Epoch.Add(time.Minute)) {
		t.Fatalf("next timer %v %v", next, ok)
	}
	c.Advance(time.Minute - 1)
	if _, ok := fired(a); ok {
		t.Fatal("fired early")
	}
	c.Advance(1)
	if at, ok := fired(a); !ok || !at.Equal(testkit.Epoch.Add(time.Minute)) {
		t.Fatalf("a: fired %v at %v, want at one minute", ok, at)
	}
	if _, ok := fired(b); ok {
		t.Fatal("b fired early")
	}
	// b fires, unread; Stop drains it: no stale value after it, as with
	// time.Timer since Go 1.23.
	c.Advance(time.Hour)
	if b.Stop() {
		t.Fatal("Stop of a fired timer reported it pending")
	}
	if _, ok := fired(b); ok {
		t.Fatal("a stopped timer delivered a stale value")
	}
	// Reset re-arms, relative to the clock's now.
	if b.Reset(time.Second) {
		t.Fatal("Reset of a fired timer reported it pending")
	}
	c.Advance(time.Second)
	if at, ok := fired(b); !ok || !at.Equal(c.Now()) {
		t.Fatalf("b after Reset: fired %v at %v", ok, at)
	}
	// Time never goes back.
	now := c.Now()
	c.Set(now.Add(-time.Hour))
	if !c.Now().Equal(now) {
		t.Fatal("the clock went back")
	}
	// A zero-duration timer fires at once.
	if _, ok := fired(c.NewTimer(0)); !ok {
		t.Fatal("a zero timer did not fire")
	}
}

package testkit

import (
	"time"

	"github.com/causewayhq/causeway/internal/fakeclock"
	"github.com/causewayhq/causeway/worker"
)

// Epoch is where a kit's clock starts unless WithClock gives another: a
// fixed instant, so a test's times do not depend on when it runs, and far
// from the real time, so a component reading the real clock where it
// should read the kit's shows up as a retry that never comes due.
var Epoch = fakeclock.Epoch

// Clock is a fake worker.Clock: time stands still until Advance or Set
// moves it, and then every timer whose time has come fires. It is safe for
// concurrent use. A kit moves it through its own Advance, which also waits
// for what became due to be done; moving a Clock directly does not wait.
type Clock struct{ c *fakeclock.Clock }

var _ worker.Clock = (*Clock)(nil)

// NewClock returns a clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{c: fakeclock.New(start)} }

// Now implements worker.Clock.
func (c *Clock) Now() time.Time { return c.c.Now() }

// NewTimer implements worker.Clock.
func (c *Clock) NewTimer(d time.Duration) worker.Timer { return c.c.NewTimer(d) }

// Advance moves the clock forward by d (a negative d does nothing) and
// fires the timers now due.
func (c *Clock) Advance(d time.Duration) { c.c.Advance(d) }

// Set moves the clock to t (never back) and fires the timers now due.
func (c *Clock) Set(t time.Time) { c.c.Set(t) }

// NextTimer returns when the earliest pending timer fires.
func (c *Clock) NextTimer() (time.Time, bool) { return c.c.NextTimer() }

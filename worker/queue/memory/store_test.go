package memory_test

import (
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
	"github.com/causewayhq/causeway/worker/queue/memory"
	"github.com/causewayhq/causeway/worker/queue/queuetest"
)

// fakeClock is a clock moved by hand; the store only reads Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) worker.Timer {
	return worker.SystemClock.NewTimer(d) // unused by the store
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestConformance(t *testing.T) {
	clocks := map[*testing.T]*fakeClock{}
	var mu sync.Mutex
	queuetest.Run(t, queuetest.Harness{
		New: func(t *testing.T) queue.Store {
			c := &fakeClock{now: time.Now()}
			mu.Lock()
			clocks[t] = c
			mu.Unlock()
			return memory.New(memory.WithClock(c))
		},
		Advance: func(t *testing.T, d time.Duration) {
			mu.Lock()
			c := clocks[t]
			mu.Unlock()
			c.advance(d)
		},
	})
}

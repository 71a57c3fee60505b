package memory_test

import (
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/fakeclock"
	"github.com/causewayhq/causeway/worker/queue"
	"github.com/causewayhq/causeway/worker/queue/memory"
	"github.com/causewayhq/causeway/worker/queue/queuetest"
)

func TestConformance(t *testing.T) {
	clocks := map[*testing.T]*fakeclock.Clock{}
	var mu sync.Mutex
	queuetest.Run(t, queuetest.Harness{
		New: func(t *testing.T) queue.Store {
			c := fakeclock.New(time.Now())
			mu.Lock()
			clocks[t] = c
			mu.Unlock()
			return memory.New(memory.WithClock(c))
		},
		Advance: func(t *testing.T, d time.Duration) {
			mu.Lock()
			c := clocks[t]
			mu.Unlock()
			c.Advance(d)
		},
	})
}

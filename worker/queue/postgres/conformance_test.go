package postgres_test

import (
	"testing"
	"time"

	"github.com/causewayhq/causeway/worker/queue"
	"github.com/causewayhq/causeway/worker/queue/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Harness{
		New: func(t *testing.T) queue.Store {
			s, _ := newStore(t)
			return s
		},
		// PostgreSQL stamps times with its own now(): let the time pass.
		Advance: func(t *testing.T, d time.Duration) { time.Sleep(d) },
	})
}

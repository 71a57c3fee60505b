package queue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewayhq/causeway/worker/queue"
)

// ackDequeueCounter counts the acks a store takes through AckMany and
// through AckDequeue.
type ackDequeueCounter struct {
	queue.Store
	ad               queue.AckDequeuer
	viaMany, viaDeqs atomic.Int64
}

func (s *ackDequeueCounter) AckMany(ctx context.Context, rs []queue.Receipt) ([]queue.Receipt, error) {
	s.viaMany.Add(int64(len(rs)))
	return s.Store.AckMany(ctx, rs)
}

func (s *ackDequeueCounter) AckDequeue(ctx context.Context, rs []queue.Receipt, q string, n int, vis time.Duration) ([]queue.Receipt, []queue.Delivery, error) {
	s.viaDeqs.Add(int64(len(rs)))
	return s.ad.AckDequeue(ctx, rs, q, n, vis)
}

// TestRunnerAcksWithDequeue: under a backlog the runner's acks ride on its
// next dequeue (one commit per batch, not two); every message is still
// acked once, and acks with no dequeue coming (the backlog drained) still
// go out on their own.
func TestRunnerAcksWithDequeue(t *testing.T) {
	h := newHarness(t)
	h.declare("jobs")
	const total = 200
	msgs := make([]queue.Outgoing, total)
	for i := range msgs {
		msgs[i] = jobMsg(i)
	}
	h.enqueue("jobs", msgs...)
	s := &ackDequeueCounter{Store: h.store, ad: h.store}
	startRunner(t, s, h.withDefaults(queue.RunnerConfig{}), queue.NewConsumer("jobs", queue.Concurrency(4),
		queue.Handle(func(ctx context.Context, m queue.Envelope[job]) error { return nil })))
	waitFor(t, "every message acked", func() bool { return h.outcome(queue.Acked) == total })
	if st := h.stats("jobs"); st != (queue.Stats{}) {
		t.Fatalf("stats after all acked: %+v", st)
	}
	many, deqs := s.viaMany.Load(), s.viaDeqs.Load()
	if many+deqs != total {
		t.Fatalf("acks sent: %d through AckMany + %d with dequeues, want %d in all", many, deqs, total)
	}
	if deqs == 0 {
		t.Fatalf("no ack rode on a dequeue (%d through AckMany)", many)
	}
}

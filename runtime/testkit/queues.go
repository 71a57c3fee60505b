package testkit

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/causewayhq/causeway/worker/queue"
	qmemory "github.com/causewayhq/causeway/worker/queue/memory"
)

// queueDecl is a queue declared with DeclareQueue.
type queueDecl struct {
	name string
	opts []queue.Option
}

// DeclareQueue declares a queue in the saga kit's queue store, as the
// application declares it in production (runtime.App), so steps can
// enqueue to it. A step enqueuing to an undeclared queue is refused there
// as in production: the step fails for good and the saga compensates.
func DeclareQueue(name string, opts ...queue.Option) Option {
	return func(cfg *config) { cfg.queues = append(cfg.queues, queueDecl{name: name, opts: opts}) }
}

// recordingQueues is the saga store's view of the kit's queue store: it
// keeps a copy of every message stored, so a test can see what its saga
// enqueued whether or not something consumed it since.
type recordingQueues struct {
	queue.Store
	clock *Clock

	mu   sync.Mutex
	sent map[string][]queue.Message
}

func newRecordingQueues(store queue.Store, clock *Clock) *recordingQueues {
	return &recordingQueues{Store: store, clock: clock, sent: map[string][]queue.Message{}}
}

// Enqueue implements queue.Store, recording what was stored (duplicates
// of a deduplication key were not).
func (r *recordingQueues) Enqueue(ctx context.Context, name string, msgs ...queue.Outgoing) ([]queue.Enqueued, error) {
	now := r.clock.Now()
	out, err := r.Store.Enqueue(ctx, name, msgs...)
	if err != nil {
		return out, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range msgs {
		if out[i].Duplicate {
			continue
		}
		avail := now.Add(m.Delay)
		if m.NotBefore.After(avail) {
			avail = m.NotBefore
		}
		r.sent[name] = append(r.sent[name], queue.Message{ID: out[i].ID, Queue: name,
			Payload: slices.Clone(m.Payload), Headers: maps.Clone(m.Headers), Priority: m.Priority,
			EnqueuedAt: now, AvailableAt: avail})
	}
	return out, nil
}

func (r *recordingQueues) enqueued(name string) []queue.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]queue.Message, len(r.sent[name]))
	for i, m := range r.sent[name] {
		m.Payload, m.Headers = slices.Clone(m.Payload), maps.Clone(m.Headers)
		out[i] = m
	}
	return out
}

// newSagaQueues returns the kit's queue store, on its clock, with the
// declared queues, and the recording view the saga store enqueues through.
func (h *harness) newSagaQueues() (*qmemory.Store, *recordingQueues) {
	h.tb.Helper()
	store := qmemory.New(qmemory.WithClock(h.clock))
	for _, d := range h.cfg.queues {
		if _, err := store.Declare(context.Background(), d.name, d.opts...); err != nil {
			h.tb.Fatalf("testkit: declare queue %q: %v", d.name, err)
		}
	}
	return store, newRecordingQueues(store, h.clock)
}

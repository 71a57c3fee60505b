package saga

import (
	"slices"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker/queue"
)

// Effects are what a step's attempt asks the store to write with its
// outcome, in the same transaction as the saga's new state and history:
// events to append and messages to enqueue. A failed attempt has none.
type Effects struct {
	Emits    []Emit
	Enqueues []Enqueue
}

// Empty reports whether there is nothing to write besides the outcome.
func (fx Effects) Empty() bool { return len(fx.Emits) == 0 && len(fx.Enqueues) == 0 }

// Emit is a queued append.
type Emit struct {
	StreamID string
	Expected eventlog.ExpectedVersion
	Events   []eventlog.EventData
}

// Enqueue is a queued enqueue: messages for one queue.
type Enqueue struct {
	Queue    string
	Messages []queue.Outgoing
}

// Emit queues events to append when the step's outcome is recorded, in the
// same transaction as the saga's new state — so projections can show saga
// progress exactly as it is stored. A failed step emits nothing.
func (c *StepContext[S]) Emit(streamID string, expected eventlog.ExpectedVersion, events ...eventlog.EventData) {
	c.fx.Emits = append(c.fx.Emits, Emit{StreamID: streamID, Expected: expected, Events: events})
}

// Enqueue queues messages for the named queue (see package worker/queue),
// enqueued when the step's outcome is recorded, in the same transaction as
// the saga's new state and emitted events: a consumer never sees a job of
// a step that is not recorded complete, and a step that ran twice (a
// failed attempt, a crash before its record) enqueued once. A failed step
// enqueues nothing. A message the store refuses — an undeclared queue, an
// invalid message — fails the step for good, so the saga compensates.
// Compensations may enqueue too.
func (c *StepContext[S]) Enqueue(queueName string, msgs ...queue.Outgoing) {
	if len(msgs) == 0 {
		return // nothing to write; not worth a refusal
	}
	c.fx.Enqueues = append(c.fx.Enqueues, Enqueue{Queue: queueName, Messages: slices.Clone(msgs)})
}

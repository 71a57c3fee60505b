package testkit

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker/queue"
	qmemory "github.com/causewayhq/causeway/worker/queue/memory"
)

// SagaKit runs one saga definition, whose state is an S, on memory stores
// and a fake clock: the real subscription that starts instances and files
// the events they wait for, and the real executor that runs their steps.
// Build it with NewSaga; it stops when the test ends.
type SagaKit[S any] struct {
	h    *harness
	def  saga.Saga
	name string
}

// NewSaga starts a kit running def, whose state type is S. It fails the
// test if def has declaration errors.
func NewSaga[S any](tb testing.TB, def saga.Saga, opts ...Option) *SagaKit[S] {
	tb.Helper()
	if err := def.Err(); err != nil {
		tb.Fatalf("testkit: saga %s: %v", def.Name(), err)
	}
	h := newHarness(tb, newConfig(tb, opts))
	h.queues, h.sent = h.newSagaQueues()
	h.sagas = saga.NewMemory(h.log, saga.MemoryClock(h.clock), saga.MemoryQueues(h.sent))
	h.sagaTypes = []string{def.Name()}
	x, err := saga.NewExecutor(saga.ExecutorConfig{
		Store: h.sagas, Log: h.log, Owner: "testkit", Clock: h.clock, Logger: h.cfg.logger,
		Hooks: saga.Hooks{Transition: func(saga.Instance, saga.Instance, saga.HistoryEntry) { h.signal() }},
	}, def)
	if err != nil {
		tb.Fatalf("testkit: %v", err)
	}
	h.exec = x
	sub, err := saga.Subscription(h.sagas, def, saga.SubscriptionClock(h.clock),
		saga.OnStarted(func(saga.Instance) { x.Wake() }))
	if err != nil {
		tb.Fatalf("testkit: %v", err)
	}
	ckpt := checkpoint.NewMemory()
	h.start(ckpt, ckpt, sub)
	return &SagaKit[S]{h: h, def: def, name: def.Name()}
}

// Publish appends events to a stream, as the application would (expected
// version Any). Each event is an eventlog.EventData, a TypedEvent (see
// Event), or a value with an EventType() string method, encoded as JSON.
// It does not wait for the saga: call RunUntilIdle or Advance for that.
func (k *SagaKit[S]) Publish(ctx context.Context, stream string, events ...any) eventlog.AppendResult {
	k.h.tb.Helper()
	return k.h.publish(ctx, stream, events)
}

// RunUntilIdle returns once everything due at the clock's current time is
// done: every published event handled (instances started, events filed for
// the waits), and every step, retry, wait and compensation that is due run
// and recorded — until what is left waits for the clock to move (a retry's
// backoff, a wait's timeout) or for an event. It moves no time itself and
// fails the test if the engine does not settle within the idle timeout.
func (k *SagaKit[S]) RunUntilIdle(ctx context.Context) {
	k.h.tb.Helper()
	k.h.runUntilIdle(ctx)
}

// Advance moves the clock forward by d as if that much time passed: every
// retry or wait timeout scheduled within d fires at its time, in order, and
// what it schedules in turn fires too if it falls within d. It returns once
// the kit is idle at the new time.
func (k *SagaKit[S]) Advance(ctx context.Context, d time.Duration) {
	k.h.tb.Helper()
	k.h.advance(ctx, d)
}

// AdvanceToNext moves the clock to the next scheduled retry or timeout and
// runs until idle, returning how far it moved; false when nothing is
// scheduled (every instance finished, or waits for an event with no
// timeout pending).
func (k *SagaKit[S]) AdvanceToNext(ctx context.Context) (time.Duration, bool) {
	k.h.tb.Helper()
	return k.h.advanceToNext(ctx)
}

// Clock is the kit's clock. Moving it directly does not wait for the engine.
func (k *SagaKit[S]) Clock() *Clock { return k.h.clock }

// Log is the kit's event log, for reads the helpers do not cover.
func (k *SagaKit[S]) Log() *memory.Store { return k.h.log }

// Store is the kit's saga store.
func (k *SagaKit[S]) Store() *saga.MemoryStore { return k.h.sagas }

// Queues is the kit's queue store (on the kit's clock), where the saga's
// steps enqueue: declare queues with DeclareQueue, and consume from it as
// a worker would (Dequeue, Ack), if the test needs to.
func (k *SagaKit[S]) Queues() *qmemory.Store { return k.h.queues }

// Enqueued returns the messages the saga's steps enqueued to the queue,
// in the order they were stored, whether or not they were consumed since
// (a message a deduplication key held back is not there). A step's
// messages are stored when its outcome is recorded: a failed attempt, or
// an outcome refused, enqueued nothing.
func (k *SagaKit[S]) Enqueued(queueName string) []queue.Message {
	return k.h.sent.enqueued(queueName)
}

// Admin is the operators' API on the kit's store and clock (retry a failed
// compensation, resume, cancel). Call RunUntilIdle after acting.
func (k *SagaKit[S]) Admin() saga.Admin {
	return saga.Admin{Store: k.h.sagas, Sagas: []saga.Saga{k.def}, Clock: k.h.clock}
}

// Instance is a saga instance with its state decoded and its history.
type Instance[S any] struct {
	saga.Instance
	// State is the instance's state (the stored JSON is Instance.Instance.State).
	State   S
	History []saga.HistoryEntry
}

// Instance returns the instance with the correlation id. It fails the test
// if there is none (listing the subscription's dead letters, the usual
// reason: a start that failed).
func (k *SagaKit[S]) Instance(correlationID string) Instance[S] {
	k.h.tb.Helper()
	inst, ok := k.Lookup(correlationID)
	if !ok {
		dls, _ := k.h.deadLetters(context.Background(), saga.SubscriptionName(k.name))
		k.h.tb.Fatalf("testkit: no %s saga with correlation id %q (did RunUntilIdle run?); dead letters: %d%s",
			k.name, correlationID, len(dls), describeDeadLetters(dls))
	}
	return inst
}

// Lookup returns the instance with the correlation id, if there is one.
func (k *SagaKit[S]) Lookup(correlationID string) (Instance[S], bool) {
	k.h.tb.Helper()
	ctx := context.Background()
	inst, err := k.h.sagas.Get(ctx, saga.InstanceID(k.name, correlationID))
	if err != nil {
		return Instance[S]{}, false
	}
	out := Instance[S]{Instance: inst}
	if err := json.Unmarshal(inst.State, &out.State); err != nil {
		k.h.tb.Fatalf("testkit: saga %s %q: decode state into %T: %v", k.name, correlationID, out.State, err)
	}
	if out.History, err = k.h.sagas.History(ctx, inst.ID); err != nil {
		k.h.tb.Fatalf("testkit: %v", err)
	}
	return out, true
}

// Status is the instance's status.
func (k *SagaKit[S]) Status(correlationID string) saga.Status {
	k.h.tb.Helper()
	return k.Instance(correlationID).Status
}

// Completed returns the steps the instance completed (wait steps included),
// in order.
func (k *SagaKit[S]) Completed(correlationID string) []string {
	k.h.tb.Helper()
	return k.Instance(correlationID).stepsWith(saga.PhaseAction, saga.PhaseWait)
}

// Compensated returns the steps whose compensation completed, in the order
// they ran (the reverse of the steps').
func (k *SagaKit[S]) Compensated(correlationID string) []string {
	k.h.tb.Helper()
	return k.Instance(correlationID).stepsWith(saga.PhaseCompensation)
}

func (i Instance[S]) stepsWith(phases ...saga.Phase) []string {
	out := []string{}
	for _, h := range i.History {
		if h.Outcome != saga.OutcomeCompleted && h.Outcome != saga.OutcomeReceived {
			continue
		}
		for _, p := range phases {
			if h.Phase == p {
				out = append(out, h.Step)
			}
		}
	}
	return out
}

// StepAttempts returns how many times the instance attempted step (its action
// or, with compensation, its compensation), failures included.
func (i Instance[S]) StepAttempts(step string, compensation bool) int {
	n := 0
	for _, h := range i.History {
		if h.Step == step && (h.Phase == saga.PhaseCompensation) == compensation && h.Phase != saga.PhaseOperator {
			n++
		}
	}
	return n
}

// Emitted returns the events the saga appended (everything in the log the
// test did not Publish), in log order.
func (k *SagaKit[S]) Emitted() []eventlog.Event {
	k.h.tb.Helper()
	return k.h.emitted(context.Background())
}

// DeadLetters returns the saga subscription's dead letters: events whose
// start or filing failed (e.g. data that does not decode).
func (k *SagaKit[S]) DeadLetters() []checkpoint.DeadLetter {
	k.h.tb.Helper()
	dls, err := k.h.deadLetters(context.Background(), saga.SubscriptionName(k.name))
	if err != nil {
		k.h.tb.Fatalf("testkit: %v", err)
	}
	return dls
}

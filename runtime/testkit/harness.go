package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
	qmemory "github.com/causewayhq/causeway/worker/queue/memory"
)

// harness is what both kits share: the memory log, the clock, a worker
// running subscriptions over memory checkpoints (or the projection kit's
// variant of them), optionally a saga executor, and the idle detection.
type harness struct {
	tb    testing.TB
	cfg   config
	clock *Clock
	log   *memory.Store
	ckpt  checkpoint.Store
	subs  []*watched

	// The saga side, when there is one.
	sagas     *saga.MemoryStore
	exec      *saga.Executor
	sagaTypes []string
	queues    *qmemory.Store   // what the saga's steps enqueue to
	sent      *recordingQueues // and what they enqueued

	activity chan struct{} // a hook saw something happen (one slot)

	mu        sync.Mutex
	published map[uuid.UUID]bool

	stop context.CancelFunc
	done chan struct{}
	errs chan error
}

// watched is a subscription and how far the log holds events for it.
type watched struct {
	sub  worker.Subscription
	scan eventlog.Position // the log is scanned up to here for sub
	last eventlog.Position // its last event so far
}

func newHarness(tb testing.TB, cfg config) *harness {
	log := memory.New(memory.Options{})
	tb.Cleanup(log.Close)
	return &harness{tb: tb, cfg: cfg, clock: cfg.clock, log: log,
		activity: make(chan struct{}, 1), published: map[uuid.UUID]bool{}}
}

// signal wakes RunUntilIdle; hooks call it.
func (h *harness) signal() {
	select {
	case h.activity <- struct{}{}:
	default:
	}
}

// start runs the worker (and the executor) until the test ends. Every
// subscription gets one partition, so one goroutine handles the whole log
// in order: the same per-key order as production, and no interleaving
// between partitions to make a test flaky.
func (h *harness) start(ckpt, leases checkpoint.Store, subs ...worker.Subscription) {
	h.tb.Helper()
	h.ckpt = ckpt
	for _, s := range subs {
		h.subs = append(h.subs, &watched{sub: s.With(worker.Partitions(1))})
	}
	wsubs := make([]worker.Subscription, len(h.subs))
	for i, w := range h.subs {
		wsubs[i] = w.sub
	}
	w, err := worker.New(worker.Config{
		Log: h.log, Checkpoints: ckpt, Leases: leases, MemberID: "testkit",
		Logger: h.cfg.logger, Clock: h.clock,
		Hooks: worker.Hooks{
			Handled:      func(context.Context, *worker.Delivery, time.Duration, error) { h.signal() },
			Committed:    func(string, int, eventlog.Position, int) { h.signal() },
			DeadLettered: func(string, int, *eventlog.Event, bool, error) { h.signal() },
			LeaseChanged: func(string, int, bool, string) { h.signal() },
		},
	}, wsubs...)
	if err != nil {
		h.tb.Fatalf("testkit: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done, h.errs = cancel, make(chan struct{}), make(chan error, 2)
	var wg sync.WaitGroup
	run := func(what string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
				h.errs <- fmt.Errorf("testkit: %s: %w", what, err)
				h.signal()
			}
		}()
	}
	run("worker", w.Run)
	if h.exec != nil {
		run("saga executor", h.exec.Run)
	}
	go func() { wg.Wait(); close(h.done) }()
	h.tb.Cleanup(func() {
		h.stop()
		<-h.done
	})
}

// publish appends events to a stream and remembers them as the test's own.
func (h *harness) publish(ctx context.Context, stream string, events []any) eventlog.AppendResult {
	h.tb.Helper()
	data := make([]eventlog.EventData, len(events))
	for i, e := range events {
		d, err := eventData(e)
		if err != nil {
			h.tb.Fatalf("testkit: publish to %q: event %d: %v", stream, i, err)
		}
		if d.ID == uuid.Nil {
			d.ID = uuid.New() // so the kit can tell the test's events from the engine's
		}
		data[i] = d
	}
	res, err := h.log.Append(ctx, stream, eventlog.Any, data...)
	if err != nil {
		h.tb.Fatalf("testkit: publish to %q: %v", stream, err)
	}
	h.mu.Lock()
	for _, d := range data {
		h.published[d.ID] = true
	}
	h.mu.Unlock()
	return res
}

// named is an event value that declares its type name.
type named interface{ EventType() string }

// TypedEvent is an event given as a Go value, encoded as JSON when it is
// published. Build it with Event.
type TypedEvent struct {
	Type     string
	Value    any
	Metadata eventlog.Metadata
}

// Event is an event of the given type whose data is v encoded as JSON, for
// Publish.
func Event(eventType string, v any) TypedEvent { return TypedEvent{Type: eventType, Value: v} }

// eventData turns what Publish accepts into an event: an
// eventlog.EventData as it is, a TypedEvent, or a value with an
// EventType() string method.
func eventData(e any) (eventlog.EventData, error) {
	switch v := e.(type) {
	case eventlog.EventData:
		return v, nil
	case *eventlog.EventData:
		return *v, nil
	case TypedEvent:
		d, err := eventlog.NewEvent(v.Type, v.Value)
		d.Metadata = v.Metadata
		return d, err
	case named:
		return eventlog.NewEvent(v.EventType(), v)
	}
	return eventlog.EventData{}, fmt.Errorf("%T is not an event: give an eventlog.EventData, a testkit.Event(type, value), or a value with an EventType() string method", e)
}

// runUntilIdle waits until nothing is left to do at the clock's current
// time; see SagaKit.RunUntilIdle.
func (h *harness) runUntilIdle(ctx context.Context) {
	h.tb.Helper()
	deadline := time.NewTimer(h.cfg.idleTimeout)
	defer deadline.Stop()
	// A fallback for the rare change no hook reports (an executor giving an
	// instance back until later): the hooks make the wait short otherwise.
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case err := <-h.errs:
			h.tb.Fatalf("%v", err)
		default:
		}
		busy, err := h.busy(ctx)
		if err != nil {
			h.tb.Fatalf("testkit: %v", err)
		}
		if busy == "" {
			return
		}
		if h.exec != nil {
			h.exec.Wake()
		}
		select {
		case <-h.activity:
		case <-poll.C:
		case <-ctx.Done():
			h.tb.Fatalf("testkit: waiting until idle: %v; still busy: %s", ctx.Err(), busy)
		case <-deadline.C:
			h.tb.Fatalf("testkit: not idle after %v (real time): %s", h.cfg.idleTimeout, busy)
		}
	}
}

// busy says what is left to do now, or "" when nothing is. It looks at the
// executor's store, then the subscriptions, then the executor's store
// again, and trusts the answer only if neither the log nor the saga store
// changed meanwhile: each of them moves on its own, so one look at each
// could see the subscriptions done before a step emitted an event for
// them and the executor done after.
func (h *harness) busy(ctx context.Context) (string, error) {
	head1, err := h.log.Head(ctx)
	if err != nil {
		return "", err
	}
	f1, why, err := h.sagaBusy(ctx)
	if err != nil || why != "" {
		return why, err
	}
	for _, w := range h.subs {
		if why, err := h.subBusy(ctx, w); err != nil || why != "" {
			return why, err
		}
	}
	f2, why, err := h.sagaBusy(ctx)
	if err != nil || why != "" {
		return why, err
	}
	head2, err := h.log.Head(ctx)
	if err != nil {
		return "", err
	}
	if head1 != head2 || f1 != f2 {
		return "the log or the saga store changed while looking", nil
	}
	return "", nil
}

// sagaBusy reports an instance that is due now (or running a step: a
// claimed instance stays due until its outcome is recorded), and a
// fingerprint of the store that changes with every change of an instance.
func (h *harness) sagaBusy(ctx context.Context) (fingerprint [2]int64, why string, err error) {
	if h.sagas == nil {
		return fingerprint, "", nil
	}
	insts, err := h.sagas.List(ctx, saga.Query{Limit: 1 << 30})
	if err != nil {
		return fingerprint, "", err
	}
	now := h.clock.Now()
	for _, inst := range insts {
		fingerprint[0]++
		fingerprint[1] += inst.Version
		if inst.Status == saga.StatusRunning || inst.Status == saga.StatusWaiting || inst.Status == saga.StatusCompensating {
			if !inst.NextAttemptAt.IsZero() && !inst.NextAttemptAt.After(now) {
				return fingerprint, fmt.Sprintf("saga %s %q is %s at step %d (attempts %d, last error %q)",
					inst.Type, inst.CorrelationID, inst.Status, inst.Step, inst.Attempts, inst.LastError), nil
			}
		}
	}
	return fingerprint, "", nil
}

// subBusy reports a subscription that has not handled every event of its
// in the log, or has a dead letter due for a retry now.
func (h *harness) subBusy(ctx context.Context, w *watched) (string, error) {
	for e, err := range h.log.ReadAll(ctx, w.scan, w.sub.Filter()) {
		if err != nil {
			return "", err
		}
		w.scan, w.last = e.Position, e.Position
	}
	if w.last.IsZero() {
		return "", nil
	}
	parts, err := h.ckpt.Partitions(ctx, w.sub.Name())
	if err != nil {
		return "", err
	}
	if len(parts) == 0 {
		return fmt.Sprintf("subscription %s is starting", w.sub.Name()), nil
	}
	for _, p := range parts {
		if p.Checkpoint.Before(w.last) {
			return fmt.Sprintf("subscription %s is at %v, its last event at %v", w.sub.Name(), p.Checkpoint, w.last), nil
		}
	}
	dls, err := h.deadLetters(ctx, w.sub.Name())
	if err != nil {
		return "", err
	}
	now := h.clock.Now()
	for _, dl := range dls {
		if dl.RetryRequested || !dl.Blocked && !dl.NextAttemptAt.IsZero() && !dl.NextAttemptAt.After(now) {
			return fmt.Sprintf("subscription %s: %s event %s is due for a retry", w.sub.Name(), dl.Type, dl.EventID), nil
		}
	}
	return "", nil
}

func (h *harness) deadLetters(ctx context.Context, sub string) ([]checkpoint.DeadLetter, error) {
	var out []checkpoint.DeadLetter
	q := checkpoint.DeadLetterQuery{Subscription: sub, Limit: 1000}
	for {
		page, err := h.ckpt.DeadLetters(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			return out, nil
		}
		q.AfterID = page[len(page)-1].ID
	}
}

// nextDue is the earliest time after now when something is scheduled: a
// saga's retry or wait timeout, a dead letter's retry.
func (h *harness) nextDue(ctx context.Context) (time.Time, error) {
	now := h.clock.Now()
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if h.sagas != nil {
		insts, err := h.sagas.List(ctx, saga.Query{Limit: 1 << 30})
		if err != nil {
			return time.Time{}, err
		}
		for _, inst := range insts {
			if !inst.Status.Terminal() && inst.Status != saga.StatusFailed {
				consider(inst.NextAttemptAt)
			}
		}
	}
	for _, w := range h.subs {
		dls, err := h.deadLetters(ctx, w.sub.Name())
		if err != nil {
			return time.Time{}, err
		}
		for _, dl := range dls {
			if !dl.Blocked {
				consider(dl.NextAttemptAt)
			}
		}
	}
	return next, nil
}

// advance moves the clock to now+d the way time passes: through every
// scheduled moment on the way, running until idle at each, so a retry that
// schedules another retry within d sees that one fire too.
func (h *harness) advance(ctx context.Context, d time.Duration) {
	h.tb.Helper()
	h.runUntilIdle(ctx)
	target := h.clock.Now().Add(d)
	for {
		next, err := h.nextDue(ctx)
		if err != nil {
			h.tb.Fatalf("testkit: %v", err)
		}
		if next.IsZero() || next.After(target) {
			break
		}
		h.clock.Set(next)
		h.runUntilIdle(ctx)
	}
	h.clock.Set(target)
	h.runUntilIdle(ctx)
}

// advanceToNext moves the clock to the next scheduled moment, if any.
func (h *harness) advanceToNext(ctx context.Context) (time.Duration, bool) {
	h.tb.Helper()
	h.runUntilIdle(ctx)
	next, err := h.nextDue(ctx)
	if err != nil {
		h.tb.Fatalf("testkit: %v", err)
	}
	if next.IsZero() {
		return 0, false
	}
	d := next.Sub(h.clock.Now())
	h.clock.Set(next)
	h.runUntilIdle(ctx)
	return d, true
}

// emitted returns the events in the log that the test did not publish.
func (h *harness) emitted(ctx context.Context) []eventlog.Event {
	h.tb.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []eventlog.Event
	for e, err := range h.log.ReadAll(ctx, eventlog.Position{}, eventlog.Filter{}) {
		if err != nil {
			h.tb.Fatalf("testkit: read the log: %v", err)
		}
		if !h.published[e.ID] {
			out = append(out, e)
		}
	}
	return out
}

// Types returns the events' types, in order: a compact thing to compare.
func Types(events []eventlog.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

// Decode decodes an event's data into a T.
func Decode[T any](e eventlog.Event) (T, error) {
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		return v, fmt.Errorf("testkit: decode %s event %s into %T: %w", e.Type, e.ID, v, err)
	}
	return v, nil
}

// describeDeadLetters lists dead letters for a failure message.
func describeDeadLetters(dls []checkpoint.DeadLetter) string {
	var b strings.Builder
	for _, dl := range dls {
		fmt.Fprintf(&b, "\n  %s event %s (stream %s), %d attempts: %s", dl.Type, dl.EventID, dl.StreamID, dl.Attempts, dl.Error)
	}
	return b.String()
}

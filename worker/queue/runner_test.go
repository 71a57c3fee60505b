package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/worker/queue"
	"github.com/causewayhq/causeway/worker/queue/memory"
)

type job struct {
	N int `json:"n"`
}

func jobMsg(n int) queue.Outgoing {
	return queue.New(json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)))
}

// TestRunnerHandlesWithinConcurrency: the runner never runs more handlers
// than Concurrency, takes no more messages than it has free handlers (the
// rest stay ready for other processes), acks what succeeded, and is woken
// by an enqueue (the poll is an hour away on a clock that stands still).
func TestRunnerHandlesWithinConcurrency(t *testing.T) {
	h := newHarness(t)
	h.declare("jobs")
	const total, conc = 30, 3
	var (
		running, maxRunning atomic.Int64
		gate                = make(chan struct{})
		open                = sync.OnceFunc(func() { close(gate) })
		mu                  sync.Mutex
		seen                = map[int]int{}
	)
	h.start(queue.RunnerConfig{}, queue.NewConsumer("jobs", queue.Concurrency(conc),
		queue.Handle(func(ctx context.Context, m queue.Envelope[job]) error {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				old := maxRunning.Load()
				if n <= old || maxRunning.CompareAndSwap(old, n) {
					break
				}
			}
			<-gate
			mu.Lock()
			seen[m.Data.N]++
			mu.Unlock()
			return nil
		})))
	t.Cleanup(open) // before the runner's stop (cleanups run last first): no handler left blocked
	// Enqueued once the runner is idle: only a wake can start them.
	waitFor(t, "the runner idle until its poll", func() bool { return h.clock.Pending(h.clock.Now().Add(time.Hour)) })
	for i := range total {
		h.enqueue("jobs", jobMsg(i))
	}
	waitFor(t, "three handlers running", func() bool { return running.Load() == conc })
	if st := h.stats("jobs"); st.InFlight != conc || st.Ready != total-conc {
		t.Fatalf("with %d handlers busy: %+v, want %d in flight and the rest ready", conc, st, conc)
	}
	open()
	waitFor(t, "every message acked", func() bool { return h.outcome(queue.Acked) == total })
	if m := maxRunning.Load(); m > conc {
		t.Fatalf("%d handlers ran at once, concurrency %d", m, conc)
	}
	if st := h.stats("jobs"); st != (queue.Stats{}) {
		t.Fatalf("stats after all acked: %+v", st)
	}
	for i := range total {
		if seen[i] != 1 {
			t.Errorf("message %d handled %d times", i, seen[i])
		}
	}
}

// TestRunnerRetriesAtBackoff: a failing message is attempted again exactly
// when its backoff says (attempt 1 at t0, 2 at t0+10s, 3 at t0+30s with a
// 10s doubling backoff), then goes to the dead letters on the queue's last
// attempt with its last error.
func TestRunnerRetriesAtBackoff(t *testing.T) {
	h := newHarness(t)
	h.declare("jobs", queue.MaxAttempts(3))
	var (
		mu    sync.Mutex
		calls []time.Time
	)
	h.start(queue.RunnerConfig{}, queue.NewConsumer("jobs",
		queue.Backoff(queue.RetryBackoff{Initial: 10 * time.Second, Max: time.Minute}),
		queue.HandleRaw(func(ctx context.Context, d queue.Delivery) error {
			mu.Lock()
			calls = append(calls, h.clock.Now())
			n := len(calls)
			mu.Unlock()
			return fmt.Errorf("boom %d", n)
		})))
	ncalls := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(calls)
	}
	t0 := h.clock.Now()
	e := h.enqueue("jobs", jobMsg(1))
	waitFor(t, "attempt 1", func() bool { return ncalls() == 1 })
	for i, due := range []time.Time{t0.Add(10 * time.Second), t0.Add(30 * time.Second)} {
		// The consumer sleeps until exactly the retry's time.
		waitFor(t, fmt.Sprintf("a wake-up set for attempt %d at %v", i+2, due), func() bool { return h.clock.Pending(due) })
		h.clock.Set(due.Add(-time.Millisecond))
		if n := ncalls(); n != i+1 {
			t.Fatalf("attempt %d ran before its time", n)
		}
		h.clock.Set(due)
		waitFor(t, fmt.Sprintf("attempt %d", i+2), func() bool { return ncalls() == i+2 })
	}
	want := []time.Time{t0, t0.Add(10 * time.Second), t0.Add(30 * time.Second)}
	mu.Lock()
	got := fmt.Sprint(calls)
	mu.Unlock()
	if got != fmt.Sprint(want) {
		t.Fatalf("attempts at %v, want %v", got, want)
	}
	waitFor(t, "the message dead", func() bool { return h.outcome(queue.Dead) == 1 })
	dls, err := h.store.DeadLetters(context.Background(), "jobs", uuid.Nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].ID != e[0].ID || dls[0].LastError != "boom 3" || dls[0].Attempts != 3 {
		t.Fatalf("dead letters: %+v", dls)
	}
	if r := h.outcome(queue.Retried); r != 2 {
		t.Fatalf("%d retried outcomes, want 2", r)
	}
}

// TestRunnerPermanentUndecodableAndPanics: a Permanent error and a payload
// that does not decode into the handler's type go to the dead letters on
// their first attempt, whatever attempts remain; a panic is an ordinary
// failure, retried.
func TestRunnerPermanentUndecodableAndPanics(t *testing.T) {
	h := newHarness(t)
	h.declare("jobs", queue.MaxAttempts(5))
	var panicked atomic.Bool
	h.start(queue.RunnerConfig{}, queue.NewConsumer("jobs",
		queue.Backoff(queue.RetryBackoff{Initial: time.Second, Max: time.Second}),
		queue.Handle(func(ctx context.Context, m queue.Envelope[job]) error {
			switch m.Data.N {
			case 1:
				return queue.Permanent(errors.New("invalid job"))
			case 2:
				if panicked.CompareAndSwap(false, true) {
					panic("handler bug")
				}
				return nil
			}
			return nil
		})))
	bad := h.enqueue("jobs", queue.New(json.RawMessage(`{"n":"not a number"}`)))
	perm := h.enqueue("jobs", jobMsg(1))
	waitFor(t, "two dead letters", func() bool { return h.outcome(queue.Dead) == 2 })
	dls, err := h.store.DeadLetters(context.Background(), "jobs", uuid.Nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uuid.UUID]queue.DeadLetter{}
	for _, d := range dls {
		byID[d.ID] = d
	}
	if d := byID[bad[0].ID]; d.Attempts != 1 || !strings.Contains(d.LastError, "decode payload") {
		t.Fatalf("undecodable message: %+v, want dead on attempt 1 with the decode error", d)
	}
	if d := byID[perm[0].ID]; d.Attempts != 1 || !strings.Contains(d.LastError, "invalid job") {
		t.Fatalf("permanently failed message: %+v, want dead on attempt 1 with its error", d)
	}

	h.enqueue("jobs", jobMsg(2))
	waitFor(t, "the panic retried", func() bool { return h.outcome(queue.Retried) == 1 })
	if h.outcome(queue.Dead) != 2 {
		t.Fatal("a panic dead-lettered its message")
	}
	retryAt := h.clock.Now().Add(time.Second)
	waitFor(t, "a wake-up set for the retry", func() bool { return h.clock.Pending(retryAt) })
	h.clock.Set(retryAt)
	waitFor(t, "the retry acked", func() bool { return h.outcome(queue.Acked) == 1 })
}

// TestRunnerAttemptTimeout: the handler's ctx ends after AttemptTimeout;
// the attempt fails and is retried.
func TestRunnerAttemptTimeout(t *testing.T) {
	h := newHarness(t)
	h.declare("jobs")
	var (
		calls atomic.Int64
		cause atomic.Value
	)
	h.start(queue.RunnerConfig{}, queue.NewConsumer("jobs",
		queue.AttemptTimeout(50*time.Millisecond),
		queue.Backoff(queue.RetryBackoff{Initial: time.Second, Max: time.Second}),
		queue.HandleRaw(func(ctx context.Context, d queue.Delivery) error {
			if calls.Add(1) > 1 {
				return nil
			}
			<-ctx.Done() // a handler stuck until its deadline
			cause.Store(ctx.Err())
			return ctx.Err()
		})))
	h.enqueue("jobs", jobMsg(1))
	waitFor(t, "the stuck attempt retried", func() bool { return h.outcome(queue.Retried) == 1 })
	if c, _ := cause.Load().(error); !errors.Is(c, context.DeadlineExceeded) {
		t.Fatalf("handler ctx ended with %v, want its deadline", c)
	}
	retryAt := h.clock.Now().Add(time.Second)
	waitFor(t, "a wake-up set for the retry", func() bool { return h.clock.Pending(retryAt) })
	h.clock.Set(retryAt)
	waitFor(t, "the retry acked", func() bool { return h.outcome(queue.Acked) == 1 })
}

// TestRunnerExtendsSlowHandler: a handler running past half its
// visibility has it extended, so the message stays invisible to other
// consumers past the original visibility, and its ack still counts.
func TestRunnerExtendsSlowHandler(t *testing.T) {
	h := newHarness(t)
	h.declare("jobs")
	const vis = 10 * time.Second
	running, gate := make(chan struct{}), make(chan struct{})
	h.start(queue.RunnerConfig{}, queue.NewConsumer("jobs", queue.Concurrency(1), queue.Visibility(vis),
		queue.HandleRaw(func(ctx context.Context, d queue.Delivery) error {
			close(running)
			<-gate
			return ctx.Err()
		})))
	t0 := h.clock.Now()
	h.enqueue("jobs", jobMsg(1))
	recv(t, running, "the handler running")
	// The extender arms its timer after the handler starts; moving the
	// clock before that would arm it relative to the new time.
	waitFor(t, "the extension timer armed", func() bool { return h.clock.Pending(t0.Add(vis / 2)) })
	h.clock.Set(t0.Add(vis/2 + time.Second))
	// Extended at t0+6s by a full visibility: the next extension is due
	// half of it later.
	waitFor(t, "the visibility extended", func() bool { return h.clock.Pending(t0.Add(vis/2 + time.Second + vis/2)) })
	h.clock.Set(t0.Add(vis + time.Second)) // past the original visibility
	if ds, err := h.store.Dequeue(context.Background(), "jobs", 10, time.Minute); err != nil || len(ds) != 0 {
		t.Fatalf("another consumer got %d messages past the original visibility (%v): the extension did not hold", len(ds), err)
	}
	close(gate)
	waitFor(t, "the ack", func() bool { return h.outcome(queue.Acked) == 1 })
	if st := h.stats("jobs"); st != (queue.Stats{}) {
		t.Fatalf("stats after ack: %+v", st)
	}
}

// extendGate is a store whose first Extend waits for the test's go-ahead.
type extendGate struct {
	*memory.Store
	first           sync.Once
	called, proceed chan struct{}
}

func (s *extendGate) Extend(ctx context.Context, r queue.Receipt, d time.Duration) (time.Time, error) {
	s.first.Do(func() {
		s.called <- struct{}{}
		<-s.proceed
	})
	return s.Store.Extend(ctx, r, d)
}

// TestRunnerStaleReceiptCancelsHandler: when an extension finds that the
// visibility ran out and another consumer took the message, the handler's
// ctx is cancelled (cause ErrStaleReceipt) and the runner leaves the
// message to its new holder: no ack, no nack.
func TestRunnerStaleReceiptCancelsHandler(t *testing.T) {
	h := newHarness(t)
	h.declare("jobs")
	const vis = 10 * time.Second
	store := &extendGate{Store: h.store, called: make(chan struct{}), proceed: make(chan struct{})}
	running := make(chan struct{})
	var cause atomic.Value
	startRunner(t, store, h.withDefaults(queue.RunnerConfig{}), queue.NewConsumer("jobs", queue.Concurrency(1), queue.Visibility(vis),
		queue.HandleRaw(func(ctx context.Context, d queue.Delivery) error {
			close(running)
			<-ctx.Done()
			cause.Store(context.Cause(ctx))
			return errors.New("interrupted")
		})))
	t0 := h.clock.Now()
	h.enqueue("jobs", jobMsg(1))
	recv(t, running, "the handler running")
	waitFor(t, "the extension timer armed", func() bool { return h.clock.Pending(t0.Add(vis / 2)) })
	h.clock.Set(t0.Add(vis + time.Second)) // the extension comes too late
	recv(t, store.called, "the extension")
	other, err := h.store.Dequeue(context.Background(), "jobs", 1, time.Minute)
	if err != nil || len(other) != 1 || other[0].Attempts != 2 {
		t.Fatalf("another consumer's dequeue: %+v, %v", other, err)
	}
	close(store.proceed)
	waitFor(t, "the stale outcome", func() bool { return h.outcome(queue.Stale) == 1 })
	if c, _ := cause.Load().(error); !errors.Is(c, queue.ErrStaleReceipt) {
		t.Fatalf("handler ctx cause %v, want ErrStaleReceipt", c)
	}
	if st := h.stats("jobs"); st.InFlight != 1 || st.Depth != 1 {
		t.Fatalf("stats %+v: the new holder's delivery was touched", st)
	}
	if err := h.store.Ack(context.Background(), other[0].Receipt); err != nil {
		t.Fatalf("the new holder's ack: %v", err)
	}
	if n := h.outcome(queue.Retried) + h.outcome(queue.Acked) + h.outcome(queue.Dead); n != 0 {
		t.Fatalf("the runner settled a message it no longer held (%d outcomes)", n)
	}
}

// TestRunnerGracefulStop: at a stop, handlers in flight keep running and
// their acks are flushed; those still running at StopTimeout have their
// ctx cancelled and their messages released, the attempt not counted;
// messages not taken stay untouched; Run returns once all is settled.
func TestRunnerGracefulStop(t *testing.T) {
	h := newHarness(t)
	h.declare("jobs")
	const stopTimeout = 300 * time.Millisecond
	var (
		running  atomic.Int64
		finish   = make(chan struct{})
		cancelAt sync.Map // message n -> when its ctx ended
	)
	run := h.start(queue.RunnerConfig{StopTimeout: stopTimeout}, queue.NewConsumer("jobs", queue.Concurrency(4),
		queue.Handle(func(ctx context.Context, m queue.Envelope[job]) error {
			running.Add(1)
			if m.Data.N%2 == 0 {
				<-finish // finishes once the stop has begun
				return nil
			}
			<-ctx.Done() // stuck until cancelled
			cancelAt.Store(m.Data.N, time.Now())
			return ctx.Err()
		})))
	for i := range 6 {
		h.enqueue("jobs", jobMsg(i))
	}
	waitFor(t, "four handlers running", func() bool { return running.Load() == 4 })
	begin := time.Now()
	run.cancel() // the stop begins; the handlers in flight run on
	close(finish)
	err := run.wait()
	took := time.Since(begin)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if took < stopTimeout {
		t.Fatalf("Run returned after %v, before StopTimeout %v with handlers stuck", took, stopTimeout)
	}
	n := 0
	cancelAt.Range(func(k, v any) bool {
		n++
		if at := v.(time.Time); at.Sub(begin) < stopTimeout {
			t.Errorf("message %v: handler ctx cancelled %v into the stop, before StopTimeout", k, at.Sub(begin))
		}
		return true
	})
	if a, r := h.outcome(queue.Acked), h.outcome(queue.Released); a != 2 || r != 2 || n != 2 {
		t.Fatalf("outcomes: %d acked, %d released (%d cancelled); want 2 and 2", a, r, n)
	}
	if st := h.stats("jobs"); st.Depth != 4 || st.Ready != 4 || st.InFlight != 0 {
		t.Fatalf("stats after stop: %+v, want 4 ready (2 released, 2 never taken)", st)
	}
	ds, err := h.store.Dequeue(context.Background(), "jobs", 10, time.Minute)
	if err != nil || len(ds) != 4 {
		t.Fatalf("dequeue after stop: %d, %v", len(ds), err)
	}
	for _, d := range ds {
		if d.Attempts != 1 {
			t.Errorf("message %s on attempt %d after the stop, want 1 (a release does not count)", d.ID, d.Attempts)
		}
	}
}

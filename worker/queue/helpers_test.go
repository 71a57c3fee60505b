package queue_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/fakeclock"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/worker/queue"
	"github.com/causewayhq/causeway/worker/queue/memory"
)

// harness runs consumers on a memory store with a fake clock and counts
// the outcomes the runner reports.
type harness struct {
	t     *testing.T
	clock *fakeclock.Clock
	store *memory.Store
	log   *obstest.Buffer

	mu       sync.Mutex
	outcomes map[queue.Outcome]int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	c := fakeclock.New(fakeclock.Epoch)
	h := &harness{t: t, clock: c, store: memory.New(memory.WithClock(c)), log: &obstest.Buffer{},
		outcomes: map[queue.Outcome]int{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("runner log:\n%s", h.log.String())
		}
	})
	return h
}

func (h *harness) declare(name string, opts ...queue.Option) {
	h.t.Helper()
	if _, err := h.store.Declare(context.Background(), name, opts...); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) enqueue(q string, msgs ...queue.Outgoing) []queue.Enqueued {
	h.t.Helper()
	e, err := h.store.Enqueue(context.Background(), q, msgs...)
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

func (h *harness) stats(q string) queue.Stats {
	h.t.Helper()
	st, err := h.store.Stats(context.Background(), q)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) outcome(o queue.Outcome) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.outcomes[o]
}

// start runs a runner of cs on the harness's store (PollInterval an hour
// unless cfg says otherwise, so nothing happens by polling). Cleanup stops
// it.
func (h *harness) start(cfg queue.RunnerConfig, cs ...queue.Consumer) *running {
	h.t.Helper()
	return startRunner(h.t, h.store, h.withDefaults(cfg), cs...)
}

func (h *harness) withDefaults(cfg queue.RunnerConfig) queue.RunnerConfig {
	cfg.Clock = h.clock
	cfg.Logger = slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Hour
	}
	cfg.OnHandled = func(q string, o queue.Outcome, d time.Duration) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.outcomes[o]++
	}
	return cfg
}

// running is a Runner's Run in progress.
type running struct {
	t      *testing.T
	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
	err    error
}

func startRunner(t *testing.T, s queue.Store, cfg queue.RunnerConfig, cs ...queue.Consumer) *running {
	t.Helper()
	r, err := queue.NewRunner(s, cfg, cs...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{t: t, cancel: cancel, errc: make(chan error, 1)}
	go func() { run.errc <- r.Run(ctx) }()
	t.Cleanup(func() { _ = run.stop() })
	return run
}

// wait waits for Run to return (after cancel), and returns its error.
func (r *running) wait() error {
	r.once.Do(func() {
		select {
		case r.err = <-r.errc:
		case <-time.After(30 * time.Second):
			r.t.Error("Run did not return within 30s of its ctx ending")
		}
	})
	return r.err
}

func (r *running) stop() error {
	r.cancel()
	return r.wait()
}

// recv waits for a value on ch, failing the test after 10s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

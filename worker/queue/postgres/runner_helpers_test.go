package postgres_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/worker/queue"
)

// running is a Runner's Run in progress, stopped at cleanup.
type running struct {
	t      testing.TB
	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
	err    error
	log    *obstest.Buffer
}

// startRunner runs cs on s; the runner's log is shown if the test fails.
func startRunner(t testing.TB, s queue.Store, cfg queue.RunnerConfig, cs ...queue.Consumer) *running {
	t.Helper()
	lb := &obstest.Buffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r, err := queue.NewRunner(s, cfg, cs...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{t: t, cancel: cancel, errc: make(chan error, 1), log: lb}
	go func() { run.errc <- r.Run(ctx) }()
	t.Cleanup(func() {
		_ = run.stop()
		if t.Failed() {
			t.Logf("runner log:\n%s", lb.String())
		}
	})
	return run
}

// returned reports whether Run has returned (without waiting).
func (r *running) returned() bool {
	select {
	case err := <-r.errc:
		r.errc <- err
		return true
	default:
		return false
	}
}

func (r *running) stop() error {
	r.cancel()
	r.once.Do(func() {
		select {
		case r.err = <-r.errc:
		case <-time.After(30 * time.Second):
			r.t.Error("Run did not return within 30s of its ctx ending")
		}
	})
	return r.err
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

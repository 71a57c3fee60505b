package testkit

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// Option configures a kit.
type Option func(*config)

type config struct {
	clock       *Clock
	idleTimeout time.Duration
	logger      *slog.Logger
	queues      []queueDecl // DeclareQueue, for the saga kit
}

// DefaultIdleTimeout is how long RunUntilIdle waits, in real time, before it
// fails the test (a step or handler that never returns, a livelock).
const DefaultIdleTimeout = 10 * time.Second

// WithClock makes the kit use c (e.g. one standing at a chosen instant, or
// shared with code under test) instead of a new clock at Epoch.
func WithClock(c *Clock) Option { return func(cfg *config) { cfg.clock = c } }

// WithIdleTimeout bounds how long RunUntilIdle and Advance wait in real time
// for the engine to settle (default DefaultIdleTimeout).
func WithIdleTimeout(d time.Duration) Option { return func(cfg *config) { cfg.idleTimeout = d } }

// WithLogger gives the engine's log records to l instead of the test's log
// (t.Log, shown when the test fails or with -v).
func WithLogger(l *slog.Logger) Option { return func(cfg *config) { cfg.logger = l } }

func newConfig(tb testing.TB, opts []Option) config {
	cfg := config{idleTimeout: DefaultIdleTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.clock == nil {
		cfg.clock = NewClock(Epoch)
	}
	if cfg.logger == nil {
		w := &testWriter{tb: tb}
		// The engine's last goroutines may log after Run returned; the
		// test's log refuses lines once the test is over, so the writer
		// closes first (cleanups run last-registered first).
		tb.Cleanup(w.close)
		cfg.logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// testWriter writes log lines to the test's log until the test ends.
type testWriter struct {
	tb     testing.TB
	mu     sync.RWMutex
	closed bool
}

var _ io.Writer = (*testWriter)(nil)

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		w.tb.Log(string(p[:len(p)-min(1, len(p))])) // the handler ends each record with a newline
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}

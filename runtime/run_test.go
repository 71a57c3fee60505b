package runtime_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLogger logs text records of every level into a buffer.
func captureLogger() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// TestRunFailsFastWhenItsPortIsTaken: a component that cannot start (here
// the management API, its port taken) stops everything else, and Run
// returns its error promptly instead of processing on without an API. The
// API is reported listening only once it is.
func TestRunFailsFastWhenItsPortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	schema, _ := pgtest.NewSchema(t)
	logger, logs := captureLogger()
	cfg := runtime.Config{DatabaseURL: pgtest.URL(t), Schema: schema, HTTPAddr: taken.Addr().String(),
		LeaseTTL: 2 * time.Second, SagaConcurrency: 2, Logger: logger}
	ctx := pgtest.Context(t, time.Minute)
	r, err := runtime.Open(ctx, cliApp(schema), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	select {
	case err = <-done:
		done <- err // for the deferred receive
	case <-time.After(5 * time.Second):
		t.Fatalf("Run still running 5s after its management API could not listen on %s; log:\n%s", taken.Addr(), logs)
	}
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Run returned %v; want the listen error naming %s", err, taken.Addr())
	}
	if strings.Contains(logs.String(), "listening") {
		t.Fatalf("logged listening although the listen failed:\n%s", logs)
	}
}

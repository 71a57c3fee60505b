package runtime_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/worker"
)

// captureLogger logs text records of every level into a buffer.
func captureLogger() (*slog.Logger, *obstest.Buffer) {
	var b obstest.Buffer
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

// TestHandlerLogsNameTheirEvent: a record logged with a handler's context
// through the runtime's logger carries the trace id of the event's trace,
// its correlation id and its id.
func TestHandlerLogsNameTheirEvent(t *testing.T) {
	schema, _ := pgtest.NewSchema(t)
	logger, logs := captureLogger()
	var rt *runtime.Runtime
	sub := worker.NewSubscription("log_probe",
		worker.Partitions(1),
		worker.OnAny(func(ctx context.Context, d *worker.Delivery) error {
			rt.Logger().ErrorContext(ctx, "probe: charge failed")
			return nil
		}),
	)
	ctx := pgtest.Context(t, time.Minute)
	rt, err := runtime.Open(ctx, runtime.App{Name: "logs", Subscriptions: []worker.Subscription{sub}},
		runtime.Config{DatabaseURL: pgtest.URL(t), Schema: schema, HTTPAddr: "off", LeaseTTL: 2 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if _, err := rt.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ev, _ := eventlog.NewEvent("Probed", map[string]int{"n": 1})
	ev.Metadata.CorrelationID = "order-77"
	ev.Metadata.TraceParent = "00-" + traceID + "-00f067aa0ba902b7-01"
	if _, err := rt.Log.Append(ctx, "probe-1", eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	obstest.Eventually(t, 20*time.Second, "the handler's log line", func() (bool, string) {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "probe: charge failed") {
				ok := strings.Contains(line, "trace_id="+traceID) && strings.Contains(line, "correlation_id=order-77") &&
					strings.Contains(line, "event_id=") && strings.Contains(line, "subscription=log_probe")
				return ok, line
			}
		}
		return false, "not logged yet"
	})
}

// TestRunStoppedWhileStartingIsAGracefulStop: a stop requested while Run is
// still starting (listening, migrating) is a stop like any other — Run
// returns nil, so a process told to stop during its start exits cleanly.
func TestRunStoppedWhileStartingIsAGracefulStop(t *testing.T) {
	schema, _ := pgtest.NewSchema(t)
	ctx := pgtest.Context(t, time.Minute)
	for _, addr := range []string{"127.0.0.1:0", "off"} {
		cfg := runtime.Config{DatabaseURL: pgtest.URL(t), Schema: schema, HTTPAddr: addr,
			LeaseTTL: 2 * time.Second, SagaConcurrency: 2, Logger: slog.New(slog.DiscardHandler)}
		r, err := runtime.Open(ctx, cliApp(schema), cfg)
		if err != nil {
			t.Fatal(err)
		}
		stopped, cancel := context.WithCancel(ctx)
		cancel()
		err = r.Run(stopped)
		r.Close()
		if err != nil {
			t.Errorf("HTTP %s: Run stopped before it started returned %v; want nil (a graceful stop)", addr, err)
		}
	}
}

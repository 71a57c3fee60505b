package runtime

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestSupervisorFirstFailureStopsTheRest: one component failing (or
// returning while it should run on) stops the others, and wait reports
// that first failure by the component's name; a requested stop reports
// nothing.
func TestSupervisorFirstFailureStopsTheRest(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		fail func(context.Context) error
		want error
		msg  string
	}{
		{"error", func(context.Context) error { return boom }, boom, "flaky: boom"},
		{"early return", func(context.Context) error { return nil }, errStoppedEarly, "flaky: stopped unexpectedly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSupervisor(context.Background(), quiet)
			stopped := make(chan struct{})
			s.start("steady", func(ctx context.Context) error {
				<-ctx.Done()
				close(stopped)
				return ctx.Err()
			})
			s.start("flaky", tc.fail)
			select {
			case <-stopped:
			case <-time.After(5 * time.Second):
				t.Fatal("the steady component was not stopped by the other's failure")
			}
			if err := s.wait(); !errors.Is(err, tc.want) || err.Error() != tc.msg {
				t.Fatalf("wait: %v; want %q", err, tc.msg)
			}
		})
	}
	t.Run("requested stop", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		s := newSupervisor(ctx, quiet)
		s.start("steady", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		cancel()
		if err := s.wait(); err != nil {
			t.Fatalf("wait after a requested stop: %v", err)
		}
	})
}

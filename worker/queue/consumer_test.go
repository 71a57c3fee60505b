package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/causewayhq/causeway/worker/queue"
	"github.com/causewayhq/causeway/worker/queue/memory"
)

func noop(context.Context, queue.Delivery) error { return nil }

func TestConsumerDeclarationMistakes(t *testing.T) {
	for name, c := range map[string]queue.Consumer{
		"no handler":       queue.NewConsumer("jobs"),
		"two handlers":     queue.NewConsumer("jobs", queue.HandleRaw(noop), queue.HandleRaw(noop)),
		"nil handler":      queue.NewConsumer("jobs", queue.HandleRaw(nil)),
		"bad queue name":   queue.NewConsumer("1 jobs", queue.HandleRaw(noop)),
		"concurrency 0":    queue.NewConsumer("jobs", queue.HandleRaw(noop), queue.Concurrency(0)),
		"negative timeout": queue.NewConsumer("jobs", queue.HandleRaw(noop), queue.AttemptTimeout(-time.Second)),
		"tiny visibility":  queue.NewConsumer("jobs", queue.HandleRaw(noop), queue.Visibility(time.Microsecond)),
		"backoff max < initial": queue.NewConsumer("jobs", queue.HandleRaw(noop),
			queue.Backoff(queue.RetryBackoff{Initial: time.Minute, Max: time.Second})),
		"jitter > 100": queue.NewConsumer("jobs", queue.HandleRaw(noop), queue.Backoff(queue.RetryBackoff{JitterPercent: 101})),
	} {
		if err := c.Err(); !errors.Is(err, queue.ErrInvalidConsumer) {
			t.Errorf("%s: Err() = %v, want ErrInvalidConsumer", name, err)
		}
		if _, err := queue.NewRunner(memory.New(), queue.RunnerConfig{}, c); !errors.Is(err, queue.ErrInvalidConsumer) {
			t.Errorf("%s: NewRunner: %v, want ErrInvalidConsumer", name, err)
		}
	}
	ok := queue.NewConsumer("jobs", queue.HandleRaw(noop))
	if err := ok.Err(); err != nil || ok.Queue() != "jobs" {
		t.Fatalf("a good consumer: %v, queue %q", err, ok.Queue())
	}
	if _, err := queue.NewRunner(memory.New(), queue.RunnerConfig{}, ok, ok); !errors.Is(err, queue.ErrInvalidConsumer) {
		t.Errorf("two consumers of one queue: %v, want ErrInvalidConsumer", err)
	}
	if _, err := queue.NewRunner(nil, queue.RunnerConfig{}, ok); err == nil {
		t.Error("NewRunner with a nil store: no error")
	}
	if _, err := queue.NewRunner(memory.New(), queue.RunnerConfig{}); err == nil {
		t.Error("NewRunner with no consumers: no error")
	}
}

// TestRunUnknownQueue: a consumer of a queue that was never declared stops
// Run at once with ErrUnknownQueue.
func TestRunUnknownQueue(t *testing.T) {
	r, err := queue.NewRunner(memory.New(), queue.RunnerConfig{}, queue.NewConsumer("nope", queue.HandleRaw(noop)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Run(ctx); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Fatalf("Run: %v, want ErrUnknownQueue", err)
	}
}

func TestRetryBackoffDelay(t *testing.T) {
	b := queue.RetryBackoff{Initial: time.Second, Max: 10 * time.Second}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second,
		5: 10 * time.Second, 200: 10 * time.Second} {
		if got := b.Delay(attempt); got != want {
			t.Errorf("Delay(%d) = %v, want %v", attempt, got, want)
		}
	}
	var zero queue.RetryBackoff
	for range 100 {
		d := zero.Delay(1) // the default: 1s ± 20%
		if d < 800*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("default Delay(1) = %v, want 1s ± 20%%", d)
		}
		if d := zero.Delay(30); d > queue.DefaultRetryBackoff.Max {
			t.Fatalf("default Delay(30) = %v, above the max", d)
		}
	}
}

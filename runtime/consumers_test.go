package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/worker/queue"
)

type job struct {
	N int `json:"n"`
}

// TestRunRunsConsumers: Run runs App.Consumers on the runtime's queue
// store: every message is handled, a failed attempt is retried at the
// consumer's backoff, and /metrics counts the outcomes.
func TestRunRunsConsumers(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	var (
		mu      sync.Mutex
		handled = map[int]int{} // n -> attempts seen
	)
	c := queue.NewConsumer("jobs", queue.Backoff(queue.RetryBackoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond}),
		queue.Handle(func(_ context.Context, m queue.Envelope[job]) error {
			mu.Lock()
			defer mu.Unlock()
			handled[m.Data.N]++
			if m.Data.N == 2 && m.Attempts == 1 {
				return errors.New("first attempt fails")
			}
			return nil
		}))
	e := apiOpen(t, runtime.App{Name: "consumers", Queues: []queue.Declaration{queue.Declare("jobs")}, Consumers: []queue.Consumer{c}}, "", runtime.Config{})
	e.run()
	for n := range 3 {
		m, err := queue.Encode(job{N: n})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.r.Queues().Enqueue(ctx, "jobs", m); err != nil {
			t.Fatal(err)
		}
	}
	obstest.Eventually(t, 30*time.Second, "every job handled, and the failed one retried", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 3 && handled[0] == 1 && handled[1] == 1 && handled[2] == 2, fmt.Sprint(handled)
	})
	obstest.Eventually(t, 30*time.Second, "the outcomes counted and the queue empty", func() (bool, string) {
		fams := obstest.Scrape(t, e.url+"/metrics")
		acked, _ := obstest.Value(fams, "causeway_queue_handling_duration_seconds", map[string]string{"queue": "jobs", "outcome": "acked"})
		retried, _ := obstest.Value(fams, "causeway_queue_handling_duration_seconds", map[string]string{"queue": "jobs", "outcome": "retried"})
		st, err := e.r.Queues().Stats(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		return acked == 3 && retried == 1 && st.Depth == 0, fmt.Sprintf("acked %v, retried %v, %+v", acked, retried, st)
	})
}

// TestRunRefusesAConsumerOfAnUnknownQueue: a consumer whose queue is
// neither declared nor in the database stops Run at start, saying so.
func TestRunRefusesAConsumerOfAnUnknownQueue(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	c := queue.NewConsumer("nowhere", queue.HandleRaw(func(context.Context, queue.Delivery) error { return nil }))
	e := apiOpen(t, runtime.App{Consumers: []queue.Consumer{c}}, "", runtime.Config{})
	err := e.r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), `consumer of queue "nowhere"`) {
		t.Fatalf("Run = %v, want the unknown queue named", err)
	}
}

// TestOpenRefusesABadConsumer: a consumer declared without a handler is
// refused by Open.
func TestOpenRefusesABadConsumer(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	_, err := runtime.Open(ctx, runtime.App{Consumers: []queue.Consumer{queue.NewConsumer("jobs")}},
		runtime.Config{DatabaseURL: pgtest.URL(t), HTTPAddr: "off"})
	if err == nil || !strings.Contains(err.Error(), `consumer of queue "jobs"`) {
		t.Fatalf("Open = %v, want the consumer refused", err)
	}
}

package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/worker"
)

// amountV1 is the old shape of Amount, stored as "Amount.v1": cents in a
// string.
func amountUpcaster() eventlog.Upcaster {
	return eventlog.Upcaster{From: "Amount.v1", To: "Amount", Fn: func(d json.RawMessage) (json.RawMessage, error) {
		var old struct {
			Cents int64 `json:"cents,string"`
		}
		if err := json.Unmarshal(d, &old); err != nil {
			return nil, err
		}
		return json.Marshal(amount{N: old.Cents})
	}}
}

// TestSubscriptionSeesUpcastEvents: a plain subscription reading through an
// eventlog.UpcastStore gets old events in the current type and shape — its
// type filter (from its typed handler) reads the old type too — and an
// event its upcaster fails on is dead-lettered at once, permanently.
func TestSubscriptionSeesUpcastEvents(t *testing.T) {
	ctx := context.Background()
	raw := memory.New(memory.Options{})
	t.Cleanup(raw.Close)
	log, err := eventlog.WithUpcasters(raw, amountUpcaster())
	if err != nil {
		t.Fatal(err)
	}
	cps := checkpoint.NewMemory()
	var (
		mu  sync.Mutex
		got = map[string]int64{}
	)
	sub := worker.NewSubscription("upcast",
		worker.Partitions(1),
		worker.Retry(worker.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond}),
		worker.On(func(ctx context.Context, d *worker.Delivery, e eventlog.Envelope[amount]) error {
			if e.Type != "Amount" {
				return errors.New("handler saw type " + e.Type)
			}
			mu.Lock()
			got[e.StreamID] = e.Data.N
			mu.Unlock()
			return nil
		}),
	)
	if f := sub.Filter(); len(f.Types) != 1 || f.Types[0] != "Amount" {
		t.Fatalf("filter %+v", f)
	}
	for stream, ev := range map[string]eventlog.EventData{
		"acct-old":  {Type: "Amount.v1", Data: json.RawMessage(`{"cents":"42"}`)},
		"acct-new":  {Type: "Amount", Data: json.RawMessage(`{"n":7}`)},
		"acct-bad":  {Type: "Amount.v1", Data: json.RawMessage(`{"cents":"forty"}`)},
		"acct-skip": {Type: "Noise", Data: json.RawMessage(`{}`)},
	} {
		if _, err := raw.Append(ctx, stream, eventlog.NoStream, ev); err != nil {
			t.Fatal(err)
		}
	}
	startWorker(t, worker.Config{Log: log, Checkpoints: cps, LeaseTTL: time.Second}, sub)
	waitFor(t, 20*time.Second, "both amounts handled and the bad one dead-lettered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n, _ := cps.CountDeadLetters(ctx, "upcast")
		return len(got) == 2 && n == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if got["acct-old"] != 42 || got["acct-new"] != 7 {
		t.Fatalf("handled %v", got)
	}
	dls, err := cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "upcast"})
	if err != nil || len(dls) != 1 || dls[0].StreamID != "acct-bad" || dls[0].Attempts != 1 {
		t.Fatalf("dead letters %+v, %v (want acct-bad after one attempt: an upcast failure is permanent)", dls, err)
	}
}

// TestSubscriptionWith: With tunes a copy; the original keeps its settings
// and handlers.
func TestSubscriptionWith(t *testing.T) {
	typed := func(context.Context, *worker.Delivery, eventlog.Envelope[amount]) error { return nil }
	base := worker.NewSubscription("base", worker.On(typed), worker.Partitions(3))
	tuned := base.With(worker.Partitions(5), worker.OnType("Other", func(context.Context, *worker.Delivery, eventlog.Envelope[json.RawMessage]) error { return nil }))
	if base.Partitions() != 3 || tuned.Partitions() != 5 {
		t.Fatalf("partitions: base %d, tuned %d", base.Partitions(), tuned.Partitions())
	}
	if got := base.Types(); len(got) != 1 {
		t.Fatalf("base types %v: With changed the original", got)
	}
	if got := tuned.Types(); len(got) != 2 || got[0] != "Amount" || got[1] != "Other" {
		t.Fatalf("tuned types %v", got)
	}
	h := tuned.Handler()
	if err := h(context.Background(), &worker.Delivery{Event: eventlog.Event{Type: "Other", Data: json.RawMessage(`{}`)}}); err != nil {
		t.Fatalf("Handler() on Other: %v", err)
	}
	if err := h(context.Background(), &worker.Delivery{Event: eventlog.Event{Type: "Amount", Data: json.RawMessage(`[`)}}); !worker.IsPermanent(err) {
		t.Fatalf("Handler() on undecodable Amount: %v, want a permanent failure", err)
	}
	if base.MaxDeadLetters() != worker.DefaultMaxDeadLetters {
		t.Fatalf("default dead-letter cap %d", base.MaxDeadLetters())
	}
}

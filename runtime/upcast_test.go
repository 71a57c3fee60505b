package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/obstest"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/worker"
)

type probed struct {
	N int `json:"n"`
}

func (probed) EventType() string { return "Probed" }

// TestAppUpcastersReachEveryConsumer: the runtime reads through
// App.Upcasters — a subscription declared with a typed handler receives an
// event stored in the old type and shape, upcast, and a fold over
// Runtime.Reader sees it upcast too.
func TestAppUpcastersReachEveryConsumer(t *testing.T) {
	schema, _ := pgtest.NewSchema(t)
	logger, _ := captureLogger()
	var got atomic.Int64
	sub := worker.NewSubscription("upcast_probe",
		worker.Partitions(1),
		worker.On(func(ctx context.Context, d *worker.Delivery, e eventlog.Envelope[probed]) error {
			got.Add(int64(e.Data.N))
			return nil
		}),
	)
	up := eventlog.Upcaster{From: "Probed.v1", To: "Probed", Fn: func(d json.RawMessage) (json.RawMessage, error) {
		var old struct {
			Count string `json:"count"`
		}
		if err := json.Unmarshal(d, &old); err != nil {
			return nil, err
		}
		var n int
		if _, err := fmt.Sscan(old.Count, &n); err != nil {
			return nil, err
		}
		return json.Marshal(probed{N: n})
	}}
	ctx := pgtest.Context(t, time.Minute)
	rt, err := runtime.Open(ctx, runtime.App{Name: "upcast", Subscriptions: []worker.Subscription{sub}, Upcasters: []eventlog.Upcaster{up}},
		runtime.Config{DatabaseURL: pgtest.URL(t), Schema: schema, HTTPAddr: "off", LeaseTTL: 2 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if _, err := rt.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	old, _ := eventlog.NewEvent("Probed.v1", map[string]string{"count": "40"})
	cur, _ := eventlog.Encode(probed{N: 2})
	if _, err := rt.Log.Append(ctx, "probe-1", eventlog.NoStream, old, cur); err != nil {
		t.Fatal(err)
	}
	fold := eventlog.NewFold(eventlog.Evolve(func(n int, e eventlog.Envelope[probed]) int { return n + e.Data.N }))
	if f, err := fold.Load(ctx, rt.Reader(), "probe-1"); err != nil || f.State != 42 || f.Version != 2 {
		t.Fatalf("fold over Reader: %+v, %v", f, err)
	}
	if _, err := fold.Load(ctx, rt.Log, "probe-1"); err == nil {
		t.Fatal("fold over the raw log met no old type")
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	obstest.Eventually(t, 20*time.Second, "both events handled, upcast", func() (bool, string) {
		return got.Load() == 42, fmt.Sprint("sum ", got.Load())
	})
}

package saga_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

func named(name string) *saga.Definition[orderState] {
	return saga.New[orderState](name, startOnOrder(),
		saga.Step("s", func(ctx context.Context, sc *saga.StepContext[orderState]) error { return nil }))
}

// TestNameLimit: a saga name is refused when it is declared if the
// subscription name derived from it ("saga:" + name) would be refused when
// the saga starts; the longest accepted name runs.
func TestNameLimit(t *testing.T) {
	for _, n := range []int{124, 128} {
		d := named("s" + strings.Repeat("x", n-1))
		err := d.Err()
		if !errors.Is(err, checkpoint.ErrInvalidName) || !strings.Contains(fmt.Sprint(err), "123") {
			t.Fatalf("%d-byte name: Err() = %v; want an invalid-name error naming the limit (123)", n, err)
		}
		if _, err := saga.NewExecutor(saga.ExecutorConfig{Store: saga.NewMemory(nil), Log: nopLog{}}, d); err == nil {
			t.Fatalf("%d-byte name: the executor accepted it", n)
		}
	}
	longest := named("s" + strings.Repeat("x", 122))
	if err := longest.Err(); err != nil {
		t.Fatal(err)
	}
	e := newPGEnv(t)
	sub, err := saga.Subscription(e.store, longest)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := checkpoint.NewPostgres(e.log.Pool(), e.schema)
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{Log: e.log, Checkpoints: cps, LeaseTTL: 2 * time.Second}, sub)
	if err != nil {
		t.Fatalf("the worker refused the longest saga name's subscription: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctxT(t), 2*time.Second)
	defer cancel()
	if err := w.Run(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v", err)
	}
}

// nopLog is an event log no test reads.
type nopLog struct{ eventlog.Store }

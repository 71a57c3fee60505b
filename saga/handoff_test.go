package saga_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
)

// TestHandOffRunsNewInstancesWithoutClaim: with saga.HandOff (as the
// runtime wires it), an instance the subscription starts goes to the
// executor of the same process once the subscription's transaction has
// committed — never before (the first step finds the instance stored, seen
// from another connection) and never for a transaction that rolled back (a
// start that fails once rolls back the instances started before it in its
// batch: each step still runs exactly once) — and it is never claimed.
func TestHandOffRunsNewInstancesWithoutClaim(t *testing.T) {
	e := newPGEnv(t)
	var (
		mu        sync.Mutex
		runs      = map[string]int{}
		notStored []string
		failed    atomic.Bool
	)
	step := func(name string) saga.StepFunc[orderState] {
		return func(ctx context.Context, sc *saga.StepContext[orderState]) error {
			_, err := e.store.Get(ctx, sc.SagaID)
			mu.Lock()
			defer mu.Unlock()
			runs[sc.CorrelationID+"/"+name]++
			if err != nil {
				notStored = append(notStored, sc.CorrelationID)
			}
			return nil
		}
	}
	def := saga.New[orderState]("handoff",
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[order]) (saga.Start[orderState], error) {
			if e.Data.Order == "o-7" && failed.CompareAndSwap(false, true) {
				return saga.Start[orderState]{}, errors.New("fails once: its batch rolls back")
			}
			return saga.Start[orderState]{CorrelationID: e.Data.Order, State: orderState{Order: e.Data.Order}}, nil
		}),
		saga.Step("first", step("first")),
		saga.Step("second", step("second")),
	)
	const backlog, live = 20, 10
	// A backlog, delivered in batches (several starts per transaction),
	// then starts one at a time while it runs.
	for i := range backlog {
		e.append(t, fmt.Sprintf("order-%d", i), "OrderPlaced", order{Order: fmt.Sprintf("o-%d", i)})
	}
	counter := &claimCounter{Store: e.store, claims: map[uuid.UUID]int{}, records: map[uuid.UUID]int{}, inbox: map[string]int{}}
	e.run(t, def, "x1", func(c *saga.ExecutorConfig) { c.Store, c.Concurrency = counter, 64 })
	for i := backlog; i < backlog+live; i++ {
		e.append(t, fmt.Sprintf("order-%d", i), "OrderPlaced", order{Order: fmt.Sprintf("o-%d", i)})
	}
	for i := range backlog + live {
		e.waitStatus(t, saga.InstanceID("handoff", fmt.Sprintf("o-%d", i)), 30*time.Second, saga.StatusCompleted)
	}
	mu.Lock()
	defer mu.Unlock()
	if !failed.Load() {
		t.Fatal("the failing start never ran")
	}
	for i := range backlog + live {
		for _, s := range []string{"first", "second"} {
			if k := fmt.Sprintf("o-%d/%s", i, s); runs[k] != 1 {
				t.Errorf("%s ran %d times, want 1", k, runs[k])
			}
		}
	}
	if len(notStored) > 0 {
		t.Errorf("steps ran before their instance was committed: %v", notStored)
	}
	for i := range backlog + live {
		if n := counter.count(saga.InstanceID("handoff", fmt.Sprintf("o-%d", i))); n != 0 {
			t.Errorf("o-%d claimed %d times, want none (handed over)", i, n)
		}
	}
}

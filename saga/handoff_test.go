package saga_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// claimSizes records how many instances each non-empty claim returned.
type claimSizes struct {
	saga.Store
	mu    sync.Mutex
	sizes []int
}

func (c *claimSizes) Claim(ctx context.Context, types []string, owner string, n int, lease time.Duration) ([]saga.Instance, error) {
	got, err := c.Store.Claim(ctx, types, owner, n, lease)
	if len(got) > 0 {
		c.mu.Lock()
		c.sizes = append(c.sizes, len(got))
		c.mu.Unlock()
	}
	return got, err
}

// TestClaimsAheadOfFreeSlots: a backlog is claimed ahead of the free slots
// (into the ready queue, up to Concurrency more), so it takes fewer claims
// than slots' worths: with 2 slots, 12 due instances need at least 6
// claims of at most 2; claimed ahead, some claim returns more than 2. Each
// step still runs once.
func TestClaimsAheadOfFreeSlots(t *testing.T) {
	e := newPGEnv(t)
	var (
		mu   sync.Mutex
		runs = map[string]int{}
	)
	def := saga.New[orderState]("ahead", startOnOrder(),
		saga.Step("only", func(ctx context.Context, sc *saga.StepContext[orderState]) error {
			mu.Lock()
			runs[sc.CorrelationID]++
			mu.Unlock()
			return nil
		}))
	const n = 12
	for i := range n {
		corr := fmt.Sprintf("a-%d", i)
		inst := saga.Instance{ID: saga.InstanceID("ahead", corr), Type: "ahead", CorrelationID: corr, State: []byte(`{}`),
			Status: saga.StatusRunning, NextAttemptAt: time.Now().Add(-time.Second), StartedBy: uuid.New()}
		if _, err := e.store.Start(ctxT(t), nil, inst); err != nil {
			t.Fatal(err)
		}
	}
	sizes := &claimSizes{Store: e.store}
	e.run(t, def, "x1", func(c *saga.ExecutorConfig) { c.Store, c.Concurrency = sizes, 2 })
	for i := range n {
		e.waitStatus(t, saga.InstanceID("ahead", fmt.Sprintf("a-%d", i)), 30*time.Second, saga.StatusCompleted)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if k := fmt.Sprintf("a-%d", i); runs[k] != 1 {
			t.Errorf("%s ran %d times, want 1", k, runs[k])
		}
	}
	sizes.mu.Lock()
	defer sizes.mu.Unlock()
	if len(sizes.sizes) >= n/2 || slices.Max(sizes.sizes) <= 2 {
		t.Errorf("claims returned %v: the backlog was claimed a slot's worth at a time", sizes.sizes)
	}
}

// releases counts records without a history entry (an instance given back).
type releases struct {
	saga.Store
	n atomic.Int64
}

func (r *releases) Record(ctx context.Context, claimed, next saga.Instance, h saga.HistoryEntry, fx saga.Effects, consumed *saga.InboxEntry, keep time.Duration) (saga.Instance, error) {
	if h.Step == "" {
		r.n.Add(1)
	}
	return r.Store.Record(ctx, claimed, next, h, fx, consumed, keep)
}

// TestReadyInstanceWithShortLeaseIsReleased: an instance claimed ahead (or
// handed over) that waits in the ready queue longer than half the lease
// margin is given back, due at once, instead of run on a lease shorter
// than its step's timeout plus that half margin; it runs later, once.
func TestReadyInstanceWithShortLeaseIsReleased(t *testing.T) {
	e := newPGEnv(t)
	var (
		mu   sync.Mutex
		runs = map[string]int{}
	)
	def := saga.New[orderState]("slow", startOnOrder(),
		saga.Step("only", func(ctx context.Context, sc *saga.StepContext[orderState]) error {
			mu.Lock()
			runs[sc.CorrelationID]++
			mu.Unlock()
			time.Sleep(300 * time.Millisecond) // longer than half the margin below
			return nil
		}))
	const n = 3
	for i := range n {
		corr := fmt.Sprintf("s-%d", i)
		inst := saga.Instance{ID: saga.InstanceID("slow", corr), Type: "slow", CorrelationID: corr, State: []byte(`{}`),
			Status: saga.StatusRunning, NextAttemptAt: time.Now().Add(-time.Second), StartedBy: uuid.New()}
		if _, err := e.store.Start(ctxT(t), nil, inst); err != nil {
			t.Fatal(err)
		}
	}
	rel := &releases{Store: e.store}
	e.run(t, def, "x1", func(c *saga.ExecutorConfig) {
		c.Store, c.Concurrency, c.LeaseMargin, c.PollInterval = rel, 1, 200*time.Millisecond, 50*time.Millisecond
	})
	for i := range n {
		e.waitStatus(t, saga.InstanceID("slow", fmt.Sprintf("s-%d", i)), 30*time.Second, saga.StatusCompleted)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if k := fmt.Sprintf("s-%d", i); runs[k] != 1 {
			t.Errorf("%s ran %d times, want 1", k, runs[k])
		}
	}
	if rel.n.Load() == 0 {
		t.Error("no instance was given back: one waited 300 ms in the ready queue with a 100 ms allowance")
	}
}

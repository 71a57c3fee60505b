package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

func ctxT(t *testing.T) context.Context { return pgtest.Context(t, 3*time.Minute) }

type order struct {
	Order string  `json:"order"`
	Total float64 `json:"total"`
}

type paid struct {
	Order string `json:"order"`
	Ref   string `json:"ref"`
}

func (order) EventType() string { return "OrderPlaced" }
func (paid) EventType() string  { return "PaymentConfirmed" }

// startOnOrder starts an instance per OrderPlaced, correlated by order.
func startOnOrder() saga.Option {
	return saga.StartOn(func(ctx context.Context, e eventlog.Envelope[order]) (saga.Start[orderState], error) {
		return saga.Start[orderState]{CorrelationID: e.Data.Order, State: orderState{Order: e.Data.Order}}, nil
	})
}

func paidOrder(ctx context.Context, e eventlog.Envelope[paid]) (string, error) {
	return e.Data.Order, nil
}

type orderState struct {
	Order    string   `json:"order"`
	Reserved bool     `json:"reserved"`
	Payment  string   `json:"payment"`
	Shipped  bool     `json:"shipped"`
	Log      []string `json:"log"`
}

// fulfilment: reserve (undo: release) → wait for PaymentConfirmed → ship.
func fulfilment(wait time.Duration, shipFails *atomic.Bool) *saga.Definition[orderState] {
	return saga.New[orderState]("fulfilment",
		startOnOrder(),
		saga.Step("reserve", func(ctx context.Context, sc *saga.StepContext[orderState]) error {
			sc.State.Reserved = true
			sc.State.Log = append(sc.State.Log, "reserve")
			ev, _ := eventlog.NewEvent("StockReserved", map[string]string{"order": sc.State.Order, "key": sc.IdempotencyKey})
			sc.Emit("orderstatus-"+sc.State.Order, eventlog.Any, ev)
			return nil
		}, saga.Compensate(func(ctx context.Context, sc *saga.StepContext[orderState]) error {
			sc.State.Reserved = false
			sc.State.Log = append(sc.State.Log, "release")
			ev, _ := eventlog.NewEvent("StockReleased", map[string]string{"order": sc.State.Order})
			sc.Emit("orderstatus-"+sc.State.Order, eventlog.Any, ev)
			return nil
		})),
		saga.WaitFor("payment", paidOrder, saga.Timeout(wait),
			saga.OnEvent(func(ctx context.Context, sc *saga.StepContext[orderState], e eventlog.Envelope[paid]) error {
				sc.State.Payment = e.Data.Ref
				sc.State.Log = append(sc.State.Log, "paid")
				return nil
			})),
		saga.Step("ship", func(ctx context.Context, sc *saga.StepContext[orderState]) error {
			if shipFails != nil && shipFails.Load() {
				return saga.Permanent(errors.New("no courier"))
			}
			sc.State.Shipped = true
			sc.State.Log = append(sc.State.Log, "ship")
			return nil
		}),
	)
}

// running starts the saga's subscription and an executor.
type running struct {
	stop func()
	x    *saga.Executor
}

func (e *pgEnv) run(t *testing.T, def saga.Saga, owner string, configure ...func(*saga.ExecutorConfig)) *running {
	t.Helper()
	cps, err := checkpoint.NewPostgres(e.log.Pool(), e.schema)
	if err != nil {
		t.Fatal(err)
	}
	var log worker.Log = e.log
	if e.reader != nil {
		log = e.reader
	}
	cfg := saga.ExecutorConfig{Store: e.store, Log: log, Owner: owner, PollInterval: 100 * time.Millisecond, LeaseMargin: time.Second}
	for _, c := range configure {
		c(&cfg)
	}
	x, err := saga.NewExecutor(cfg, def)
	if err != nil {
		t.Fatal(err)
	}
	// As the runtime wires them: the subscription hands new instances to
	// the executor and wakes it after commits that make something due.
	sub, err := saga.Subscription(e.store, def, saga.HandOff(x))
	if err != nil {
		t.Fatal(err)
	}
	sub = sub.With(worker.Partitions(2))
	w, err := worker.New(worker.Config{Log: log, Checkpoints: cps, MemberID: owner, LeaseTTL: 2 * time.Second}, sub)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wd, xd := make(chan struct{}), make(chan struct{})
	go func() { _ = w.Run(ctx); close(wd) }()
	go func() { _ = x.Run(ctx); close(xd) }()
	stopped := false
	r := &running{x: x, stop: func() {
		if !stopped {
			stopped = true
			cancel()
			<-wd
			<-xd
		}
	}}
	t.Cleanup(r.stop)
	return r
}

func (e *pgEnv) append(t *testing.T, stream, typ string, v any) {
	t.Helper()
	ev, _ := eventlog.NewEvent(typ, v)
	if _, err := e.log.Append(ctxT(t), stream, eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
}

func (e *pgEnv) waitStatus(t *testing.T, id uuid.UUID, within time.Duration, want ...saga.Status) saga.Instance {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		inst, err := e.store.Get(ctxT(t), id)
		if err == nil && slices.Contains(want, inst.Status) {
			return inst
		}
		if time.Now().After(deadline) {
			t.Fatalf("saga %s: status %s (err %v), want %v", id, inst.Status, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func state(t *testing.T, inst saga.Instance) orderState {
	var s orderState
	if err := json.Unmarshal(inst.State, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStartsOncePerCorrelationID: duplicate start events create one
// instance, in the subscription's transaction.
func TestStartsOncePerCorrelationID(t *testing.T) {
	e := newPGEnv(t)
	def := fulfilment(time.Minute, nil)
	for i := 0; i < 3; i++ {
		e.append(t, "order-1", "OrderPlaced", order{Order: "o1", Total: 1})
	}
	e.append(t, "order-2", "OrderPlaced", order{Order: "o2", Total: 1})
	e.run(t, def, "x1")
	id := saga.InstanceID("fulfilment", "o1")
	inst := e.waitStatus(t, id, 20*time.Second, saga.StatusWaiting)
	var firstID uuid.UUID
	for ev, err := range e.log.ReadStream(ctxT(t), "order-1", eventlog.ReadStreamOptions{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		firstID = ev.ID
	}
	if inst.StartedBy != firstID {
		t.Fatalf("started by %s, want the first event %s", inst.StartedBy, firstID)
	}
	all, _ := e.store.List(ctxT(t), saga.Query{Type: "fulfilment"})
	if len(all) != 2 {
		t.Fatalf("%d instances, want 2", len(all))
	}
	// Emitted in the same transaction as the state: exactly one StockReserved.
	n := 0
	for ev, err := range e.log.ReadStream(ctxT(t), "orderstatus-o1", eventlog.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "StockReserved" {
			n++
		}
	}
	if n != 1 || !state(t, inst).Reserved {
		t.Fatalf("%d StockReserved events, state %+v", n, state(t, inst))
	}
}

// TestEventBeforeDeadlineCompletes: the awaited event (here arriving even
// before the saga reaches its wait) is consumed and no timeout fires later.
func TestEventBeforeDeadlineCompletes(t *testing.T) {
	e := newPGEnv(t)
	def := fulfilment(1500*time.Millisecond, nil)
	e.append(t, "payment-o1", "PaymentConfirmed", paid{Order: "o1", Ref: "pay-1"}) // early
	e.append(t, "order-o1", "OrderPlaced", order{Order: "o1"})
	e.run(t, def, "x1")
	id := saga.InstanceID("fulfilment", "o1")
	inst := e.waitStatus(t, id, 20*time.Second, saga.StatusCompleted)
	if s := state(t, inst); s.Payment != "pay-1" || !s.Shipped || !slices.Equal(s.Log, []string{"reserve", "paid", "ship"}) {
		t.Fatalf("state %+v", s)
	}
	// A second saga gets its event while waiting.
	e.append(t, "order-o2", "OrderPlaced", order{Order: "o2"})
	e.waitStatus(t, saga.InstanceID("fulfilment", "o2"), 20*time.Second, saga.StatusWaiting)
	e.append(t, "payment-o2", "PaymentConfirmed", paid{Order: "o2", Ref: "pay-2"})
	e.waitStatus(t, saga.InstanceID("fulfilment", "o2"), 5*time.Second, saga.StatusCompleted)
	time.Sleep(2 * time.Second) // past both deadlines
	for _, corr := range []string{"o1", "o2"} {
		h, _ := e.store.History(ctxT(t), saga.InstanceID("fulfilment", corr))
		for _, x := range h {
			if x.Outcome == saga.OutcomeTimedOut {
				t.Fatalf("%s timed out after its event arrived: %+v", corr, h)
			}
		}
		if inst, _ := e.store.Get(ctxT(t), saga.InstanceID("fulfilment", corr)); inst.Status != saga.StatusCompleted {
			t.Fatalf("%s: %s", corr, inst.Status)
		}
	}
}

// TestDurableTimeoutAcrossRestart: the executor stops while the saga waits
// and another starts; the timeout still fires within 1 s of the deadline and
// the saga compensates.
func TestDurableTimeoutAcrossRestart(t *testing.T) {
	e := newPGEnv(t)
	def := fulfilment(2*time.Second, nil)
	e.append(t, "order-o1", "OrderPlaced", order{Order: "o1"})
	first := e.run(t, def, "before")
	id := saga.InstanceID("fulfilment", "o1")
	inst := e.waitStatus(t, id, 20*time.Second, saga.StatusWaiting)
	first.stop() // the process goes away while the saga waits
	time.Sleep(500 * time.Millisecond)
	e.run(t, def, "after")
	final := e.waitStatus(t, id, 10*time.Second, saga.StatusCompensated)
	h, _ := e.store.History(ctxT(t), id)
	var timedOut *saga.HistoryEntry
	for i := range h {
		if h[i].Outcome == saga.OutcomeTimedOut {
			timedOut = &h[i]
		}
	}
	if timedOut == nil {
		t.Fatalf("no timeout in history %+v", h)
	}
	late := timedOut.At.Sub(inst.WaitDeadline)
	t.Logf("timeout fired %v after the deadline", late.Round(time.Millisecond))
	if late < 0 || late > time.Second {
		t.Fatalf("timeout fired %v after the deadline", late)
	}
	if s := state(t, final); s.Reserved || !slices.Equal(s.Log, []string{"reserve", "release"}) {
		t.Fatalf("state %+v", s)
	}
}

// TestOperatorActions: a failed saga is retried, resumed or cancelled.
func TestOperatorActions(t *testing.T) {
	e := newPGEnv(t)
	ctx := ctxT(t)
	var compFails atomic.Bool
	compFails.Store(true)
	fast := saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}
	d := saga.New[orderState]("ops",
		startOnOrder(),
		saga.Step("reserve", func(ctx context.Context, sc *saga.StepContext[orderState]) error { return nil },
			saga.Retry(fast), saga.CompensateRetry(fast), saga.Compensate(func(ctx context.Context, sc *saga.StepContext[orderState]) error {
				if compFails.Load() {
					return errors.New("warehouse down")
				}
				sc.State.Log = append(sc.State.Log, "release")
				return nil
			})),
		saga.WaitFor("payment", paidOrder, saga.Timeout(time.Hour)),
		saga.Step("charge", func(ctx context.Context, sc *saga.StepContext[orderState]) error {
			return saga.Permanent(errors.New("card declined"))
		}, saga.Retry(fast)),
	)
	for _, o := range []string{"a", "b", "c"} {
		e.append(t, "order-"+o, "OrderPlaced", order{Order: o})
	}
	e.append(t, "payment-a", "PaymentConfirmed", paid{Order: "a"})
	e.append(t, "payment-b", "PaymentConfirmed", paid{Order: "b"})
	e.run(t, d, "x")
	admin := saga.Admin{Store: e.store, Sagas: []saga.Saga{d}}
	a, b, c := saga.InstanceID("ops", "a"), saga.InstanceID("ops", "b"), saga.InstanceID("ops", "c")
	failed := e.waitStatus(t, a, 20*time.Second, saga.StatusFailed)
	if failed.LastError != "warehouse down" {
		t.Fatalf("failed saga shows %q", failed.LastError)
	}
	e.waitStatus(t, b, 20*time.Second, saga.StatusFailed)
	e.waitStatus(t, c, 20*time.Second, saga.StatusWaiting)
	// Operators are refused while an executor holds the instance; a
	// parked one is let go in the record that parks it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if inst, err := e.store.Get(ctx, c); err == nil && inst.LeaseOwner == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiting saga's lease was never given up")
		}
	}

	if _, err := admin.Cancel(ctx, c); err != nil { // waiting → compensate what completed
		t.Fatal(err)
	}
	compFails.Store(false)
	if _, err := admin.Retry(ctx, a); err != nil {
		t.Fatal(err)
	}
	if s := state(t, e.waitStatus(t, a, 10*time.Second, saga.StatusCompensated)); !slices.Equal(s.Log, []string{"release"}) {
		t.Fatalf("retried saga state %+v", s)
	}
	e.waitStatus(t, c, 10*time.Second, saga.StatusCompensated)
	if _, err := admin.Cancel(ctx, b); err != nil { // failed → given up
		t.Fatal(err)
	}
	if inst, _ := e.store.Get(ctx, b); inst.Status != saga.StatusCancelled {
		t.Fatalf("cancelled saga is %s", inst.Status)
	}
	if _, err := admin.Retry(ctx, a); !errors.Is(err, saga.ErrInvalidState) {
		t.Fatalf("retry of a compensated saga: %v", err)
	}
	det, err := admin.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, h := range det.History {
		ops = append(ops, fmt.Sprintf("%s:%s:%s", h.Step, h.Phase, h.Outcome))
	}
	want := []string{"reserve:action:completed", "payment:wait:event-received", "charge:action:failed",
		"reserve:compensation:failed", "reserve:compensation:failed", "reserve:operator:retry", "reserve:compensation:completed"}
	if !slices.Equal(ops, want) {
		t.Fatalf("history %v\nwant     %v", ops, want)
	}
}

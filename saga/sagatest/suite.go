// Package sagatest is the conformance suite for saga.Store
// implementations, run by the PostgreSQL and memory stores alike: the store
// contract, and the executor end to end on top of it.
package sagatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker/queue"
)

// Env is a fresh store, the event log it emits into and the queue store it
// enqueues into (empty: the suite declares the queues it uses).
type Env struct {
	Store  saga.Store
	Log    eventlog.Store
	Queues queue.Store
}

// NewEnv returns a fresh environment; it registers its own cleanup.
type NewEnv func(t *testing.T) Env

// Run runs the suite.
func Run(t *testing.T, newEnv NewEnv) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Env)
	}{
		{"StartOncePerCorrelation", testStartOnce},
		{"StartLeasedIsClaimed", testStartLeased},
		{"ClaimRecordAndFencing", testClaimRecord},
		{"InboxWakesWaiting", testInbox},
		{"ParkLooksInInbox", testParkLooksInInbox},
		{"ListCountAndUpdate", testListCount},
		{"ScriptedSagasEndToEnd", testScripted},
		{"RecordRefusalsAndSanitizedText", testRecordRefusals},
		{"UnstorableOutcomesFailTheStep", testUnstorable},
		{"ExpectedVersionConflictRetriesStep", testConflict},
		{"RecordEnqueuesWithOutcome", testRecordEnqueues},
		{"StepEnqueuesOnceAndRefusalsCompensate", testStepEnqueues},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newEnv(t))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newInstance(typ, corr string) saga.Instance {
	return saga.Instance{ID: saga.InstanceID(typ, corr), Type: typ, CorrelationID: corr, State: json.RawMessage(`{"n":1}`),
		Status: saga.StatusRunning, NextAttemptAt: time.Now().Add(-time.Millisecond), StartedBy: uuid.New()}
}

func testStartOnce(t *testing.T, e Env) {
	ctx := ctxT(t)
	inst := newInstance("order", "o-1")
	created, err := e.Store.Start(ctx, nil, inst)
	if err != nil || !created {
		t.Fatalf("first start: %v, %v", created, err)
	}
	again := inst
	again.StartedBy = uuid.New()
	if created, err := e.Store.Start(ctx, nil, again); err != nil || created {
		t.Fatalf("second start: %v, %v", created, err)
	}
	got, err := e.Store.Get(ctx, inst.ID)
	if err != nil || got.StartedBy != inst.StartedBy || got.Version != 1 || got.Status != saga.StatusRunning || string(got.State) != `{"n": 1}` && string(got.State) != `{"n":1}` {
		t.Fatalf("stored %+v, %v", got, err)
	}
	// The same correlation id in another saga type is another instance.
	if created, _ := e.Store.Start(ctx, nil, newInstance("refund", "o-1")); !created {
		t.Fatal("other type not started")
	}
	if _, err := e.Store.Get(ctx, uuid.New()); !errors.Is(err, saga.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

func testClaimRecord(t *testing.T, e Env) {
	ctx := ctxT(t)
	for i := 0; i < 3; i++ {
		if _, err := e.Store.Start(ctx, nil, newInstance("c", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	later := newInstance("c", "later")
	later.NextAttemptAt = time.Now().Add(time.Hour)
	_, _ = e.Store.Start(ctx, nil, later)
	_, _ = e.Store.Start(ctx, nil, newInstance("other-type", "x"))

	a, err := e.Store.Claim(ctx, []string{"c"}, "a", 2, time.Minute)
	if err != nil || len(a) != 2 {
		t.Fatalf("claim: %d, %v", len(a), err)
	}
	b, _ := e.Store.Claim(ctx, []string{"c"}, "b", 10, 300*time.Millisecond)
	if len(b) != 1 || b[0].LeaseOwner != "b" || b[0].Version != 2 {
		t.Fatalf("second claim got %+v (leased and not-due instances must be skipped)", b)
	}
	if due, ok, _ := e.Store.NextDue(ctx, []string{"c"}); !ok || due.After(time.Now()) {
		t.Fatalf("next due %v %v", due, ok)
	}
	// Record with the lease kept, then release.
	next := a[0]
	next.Step, next.State = 1, json.RawMessage(`{"n":2}`)
	rec, err := e.Store.Record(ctx, a[0], next, saga.HistoryEntry{Step: "s1", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted}, saga.Effects{}, nil, time.Minute)
	if err != nil || rec.Version != a[0].Version+1 || rec.LeaseOwner != "a" || rec.LeaseExpiresAt.Before(time.Now()) {
		t.Fatalf("record: %+v, %v", rec, err)
	}
	// A stale record (old version) is refused and changes nothing.
	if _, err := e.Store.Record(ctx, a[0], next, saga.HistoryEntry{Step: "s1"}, saga.Effects{}, nil, 0); !errors.Is(err, saga.ErrLeaseLost) {
		t.Fatalf("stale record: %v", err)
	}
	done := rec
	done.Status, done.NextAttemptAt = saga.StatusCompleted, time.Time{}
	if _, err := e.Store.Record(ctx, rec, done, saga.HistoryEntry{Step: "s2", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted}, saga.Effects{}, nil, 0); err != nil {
		t.Fatal(err)
	}
	h, _ := e.Store.History(ctx, a[0].ID)
	if len(h) != 2 || h[0].Step != "s1" || h[1].Step != "s2" || h[0].Seq >= h[1].Seq || h[0].At.IsZero() {
		t.Fatalf("history %+v", h)
	}
	// b's lease expires: another executor may claim it, and b's late record is refused.
	time.Sleep(400 * time.Millisecond)
	c, _ := e.Store.Claim(ctx, []string{"c"}, "c", 10, time.Minute)
	if len(c) != 1 || c[0].ID != b[0].ID {
		t.Fatalf("takeover %+v", c)
	}
	if _, err := e.Store.Record(ctx, b[0], b[0], saga.HistoryEntry{Step: "x"}, saga.Effects{}, nil, 0); !errors.Is(err, saga.ErrLeaseLost) {
		t.Fatalf("record after takeover: %v", err)
	}
	// Terminal instances are never claimed again.
	if more, _ := e.Store.Claim(ctx, []string{"c"}, "d", 10, time.Minute); len(more) != 0 {
		t.Fatalf("claimed %+v", more)
	}
}

func testInbox(t *testing.T, e Env) {
	ctx := ctxT(t)
	inst := newInstance("w", "k1")
	inst.Status, inst.NextAttemptAt = saga.StatusWaiting, time.Now().Add(time.Hour)
	if _, err := e.Store.Start(ctx, nil, inst); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Store.Claim(ctx, []string{"w"}, "x", 1, time.Minute); len(got) != 0 {
		t.Fatal("waiting instance claimed before its time")
	}
	ev := eventlog.Event{ID: uuid.New(), Type: "Paid", Position: eventlog.Position{TxID: 9, Seq: 4}}
	for i := 0; i < 2; i++ { // filing twice is harmless
		if err := e.Store.AddInbox(ctx, nil, "w", "k1", ev); err != nil {
			t.Fatal(err)
		}
	}
	_ = e.Store.AddInbox(ctx, nil, "w", "k1", eventlog.Event{ID: uuid.New(), Type: "Other", Position: eventlog.Position{TxID: 9, Seq: 5}})
	got, _ := e.Store.Claim(ctx, []string{"w"}, "x", 1, time.Minute)
	if len(got) != 1 {
		t.Fatal("an inbox event did not wake the waiting instance")
	}
	entries, err := e.Store.Inbox(ctx, "w", "k1", "Paid")
	if err != nil || len(entries) != 1 || entries[0].EventID != ev.ID || entries[0].Position != ev.Position {
		t.Fatalf("inbox %+v, %v", entries, err)
	}
	next := got[0]
	next.Status = saga.StatusCompleted
	if _, err := e.Store.Record(ctx, got[0], next, saga.HistoryEntry{Step: "wait"}, saga.Effects{}, &entries[0], 0); err != nil {
		t.Fatal(err)
	}
	if entries, _ = e.Store.Inbox(ctx, "w", "k1", "Paid"); len(entries) != 0 {
		t.Fatalf("consumed entry still there: %+v", entries)
	}
	// The finished instance's other filed events are gone, and new ones are
	// not filed.
	if left, _ := e.Store.Inbox(ctx, "w", "k1", "Other"); len(left) != 0 {
		t.Fatalf("a finished instance kept inbox entries: %+v", left)
	}
	_ = e.Store.AddInbox(ctx, nil, "w", "k1", eventlog.Event{ID: uuid.New(), Type: "Paid", Position: eventlog.Position{TxID: 9, Seq: 6}})
	if late, _ := e.Store.Inbox(ctx, "w", "k1", "Paid"); len(late) != 0 {
		t.Fatalf("an event for a finished instance was filed: %+v", late)
	}
}

func testListCount(t *testing.T, e Env) {
	ctx := ctxT(t)
	for i := 0; i < 5; i++ {
		_, _ = e.Store.Start(ctx, nil, newInstance("l", fmt.Sprint(i)))
	}
	all, err := e.Store.List(ctx, saga.Query{Type: "l"})
	if err != nil || len(all) != 5 {
		t.Fatalf("list %d, %v", len(all), err)
	}
	page, _ := e.Store.List(ctx, saga.Query{Type: "l", After: all[1].ID, Limit: 2})
	if len(page) != 2 || page[0].ID != all[2].ID {
		t.Fatalf("paging %+v", page)
	}
	next := all[0]
	next.Status = saga.StatusFailed
	up, err := e.Store.Update(ctx, all[0], next, saga.HistoryEntry{Step: "s", Phase: saga.PhaseOperator, Outcome: "cancel"})
	if err != nil || up.Status != saga.StatusFailed {
		t.Fatalf("update %+v, %v", up, err)
	}
	if _, err := e.Store.Update(ctx, all[0], next, saga.HistoryEntry{Step: "s"}); !errors.Is(err, saga.ErrLeaseLost) {
		t.Fatalf("stale update: %v", err)
	}
	counts, _ := e.Store.Count(ctx, "l")
	if counts[saga.StatusRunning] != 4 || counts[saga.StatusFailed] != 1 {
		t.Fatalf("counts %v", counts)
	}
	if f, _ := e.Store.List(ctx, saga.Query{Type: "l", Status: saga.StatusFailed}); len(f) != 1 || f[0].ID != all[0].ID {
		t.Fatalf("by status %+v", f)
	}
	if c, _ := e.Store.List(ctx, saga.Query{CorrelationID: "3"}); len(c) != 1 {
		t.Fatalf("by correlation %+v", c)
	}
}

// Script says how a scripted saga behaves: step FailAt (1-based, 0 = none)
// always fails; the compensation of step FailComp always fails.
type Script struct {
	Steps    int `json:"steps"`
	FailAt   int `json:"fail_at"`
	FailComp int `json:"fail_comp"`
}

// Recorder collects executed steps per saga.
type Recorder struct {
	mu   sync.Mutex
	runs map[string][]string
}

func (r *Recorder) add(corr, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs == nil {
		r.runs = map[string][]string{}
	}
	r.runs[corr] = append(r.runs[corr], what)
}

func (r *Recorder) get(corr string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs[corr])
}

// ScriptedDefinition is a saga of n steps T1…Tn with compensations C1…Cn
// that follows the Script in its state.
func ScriptedDefinition(n int, rec *Recorder) *saga.Definition[Script] {
	opts := []saga.Option{
		saga.StartOnType(fmt.Sprintf("Start%d", n), func(ctx context.Context, e eventlog.Envelope[Script]) (saga.Start[Script], error) {
			return saga.Start[Script]{CorrelationID: e.StreamID, State: e.Data}, nil
		}),
	}
	fast := saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	for i := 1; i <= n; i++ {
		opts = append(opts, saga.Step(fmt.Sprintf("T%d", i), func(ctx context.Context, sc *saga.StepContext[Script]) error {
			if sc.State.FailAt == i {
				return errors.New("scripted failure")
			}
			rec.add(sc.CorrelationID, fmt.Sprintf("T%d", i))
			return nil
		},
			saga.Retry(fast), saga.CompensateRetry(fast),
			saga.Compensate(func(ctx context.Context, sc *saga.StepContext[Script]) error {
				if sc.State.FailComp == i {
					return errors.New("scripted compensation failure")
				}
				rec.add(sc.CorrelationID, fmt.Sprintf("C%d", i))
				return nil
			}),
		))
	}
	return saga.New[Script](fmt.Sprintf("scripted%d", n), opts...)
}

// Expected is the sequence and final status a script must produce.
func Expected(s Script) ([]string, saga.Status) {
	var want []string
	last, status := s.Steps, saga.StatusCompleted
	if s.FailAt > 0 {
		last, status = s.FailAt-1, saga.StatusCompensated
	}
	for i := 1; i <= last; i++ {
		want = append(want, fmt.Sprintf("T%d", i))
	}
	if s.FailAt > 0 {
		for i := last; i >= 1; i-- {
			if i == s.FailComp {
				return want, saga.StatusFailed
			}
			want = append(want, fmt.Sprintf("C%d", i))
		}
	}
	return want, status
}

// testScripted runs every script of 1–5 steps through the executor and
// checks each saga's executed sequence and final status.
func testScripted(t *testing.T, e Env) {
	ctx := ctxT(t)
	rec := &Recorder{}
	var defs []saga.Saga
	scripts := map[string]Script{}
	for n := 1; n <= 5; n++ {
		d := ScriptedDefinition(n, rec)
		defs = append(defs, d)
		for k := 0; k <= n; k++ {
			for c := 0; c <= max(k-1, 0); c++ {
				s := Script{Steps: n, FailAt: k, FailComp: c}
				corr := fmt.Sprintf("s%d-%d-%d", n, k, c)
				st, _ := json.Marshal(s)
				inst := saga.Instance{ID: saga.InstanceID(d.Name(), corr), Type: d.Name(), CorrelationID: corr, State: st,
					Status: saga.StatusRunning, NextAttemptAt: time.Now()}
				if _, err := e.Store.Start(ctx, nil, inst); err != nil {
					t.Fatal(err)
				}
				scripts[corr] = s
			}
		}
	}
	x, err := saga.NewExecutor(saga.ExecutorConfig{Store: e.Store, Log: e.Log, PollInterval: 10 * time.Millisecond, Concurrency: 8}, defs...)
	if err != nil {
		t.Fatal(err)
	}
	xctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- x.Run(xctx) }()
	defer func() { stop(); <-done }()

	deadline := time.Now().Add(time.Minute)
	for corr, s := range scripts {
		want, status := Expected(s)
		for {
			inst, err := e.Store.Get(ctx, saga.InstanceID(fmt.Sprintf("scripted%d", s.Steps), corr))
			if err != nil {
				t.Fatal(err)
			}
			if inst.Status.Terminal() || inst.Status == saga.StatusFailed {
				if inst.Status != status || !slices.Equal(rec.get(corr), want) {
					t.Fatalf("%s %+v: ran %v, ended %s; want %v, %s", corr, s, rec.get(corr), inst.Status, want, status)
				}
				if status == saga.StatusFailed && inst.LastError != "scripted compensation failure" {
					t.Fatalf("%s: failed without its error: %q", corr, inst.LastError)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still %s after a minute", corr, inst.Status)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("%d scripted sagas checked", len(scripts))
}

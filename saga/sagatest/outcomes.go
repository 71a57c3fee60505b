package sagatest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

// runExecutor runs an executor over defs until the test ends.
func runExecutor(t *testing.T, ctx context.Context, e Env, defs ...saga.Saga) {
	t.Helper()
	x, err := saga.NewExecutor(saga.ExecutorConfig{Store: e.Store, Log: e.Log, PollInterval: 10 * time.Millisecond, Concurrency: 8}, defs...)
	if err != nil {
		t.Fatal(err)
	}
	xctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- x.Run(xctx) }()
	t.Cleanup(func() { stop(); <-done })
}

// startInstance creates a running instance of def with the given state.
func startInstance(t *testing.T, ctx context.Context, e Env, sagaType, corr string, state []byte) {
	t.Helper()
	inst := saga.Instance{ID: saga.InstanceID(sagaType, corr), Type: sagaType, CorrelationID: corr, State: state,
		Status: saga.StatusRunning, NextAttemptAt: time.Now()}
	if _, err := e.Store.Start(ctx, nil, inst); err != nil {
		t.Fatal(err)
	}
}

// waitFinished polls until the instance is terminal or failed.
func waitFinished(t *testing.T, ctx context.Context, e Env, id [16]byte, within time.Duration) saga.Instance {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		inst, err := e.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if inst.Status.Terminal() || inst.Status == saga.StatusFailed {
			return inst
		}
		if time.Now().After(deadline) {
			h, _ := e.Store.History(ctx, id)
			t.Fatalf("saga %s (%s) still %s after %v; last error %q; history %+v", inst.CorrelationID, inst.Type, inst.Status, within, inst.LastError, h)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// storable reports whether PostgreSQL can store s as text.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// unstorable is a step's outcome that PostgreSQL cannot store as it is.
type unstorable struct {
	Mode string  `json:"mode"`
	Note string  `json:"note,omitempty"`
	F    float64 `json:"f,omitempty"`
}

// testUnstorable: a step whose error or panic value PostgreSQL cannot store,
// whose new state cannot be stored, or whose emitted events the log refuses
// fails its attempt — visibly, and for good when retrying cannot help — so
// the saga compensates instead of re-running the step forever.
func testUnstorable(t *testing.T, e Env) {
	ctx := ctxT(t)
	var (
		mu   sync.Mutex
		runs = map[string]int{}
	)
	fast := worker.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	d := saga.New[unstorable]("unstorable",
		saga.Step("reserve", func(ctx context.Context, sc *saga.StepContext[unstorable]) error { return nil },
			saga.Retry(fast), saga.Compensate(func(ctx context.Context, sc *saga.StepContext[unstorable]) error { return nil })),
		saga.Step("act", func(ctx context.Context, sc *saga.StepContext[unstorable]) error {
			mu.Lock()
			runs[sc.CorrelationID]++
			mu.Unlock()
			switch sc.State.Mode {
			case "error":
				return worker.Permanent(errors.New("bad \x00 text \xff\xfe"))
			case "panic":
				panic("bad \x00 panic \xff")
			case "state-nul":
				sc.State.Note = "nul \x00 here"
			case "state-nan":
				sc.State.F = math.NaN()
			case "emit-stream":
				ev, _ := eventlog.NewEvent("Noted", map[string]string{"a": "b"})
				sc.Emit("not a stream id", eventlog.Any, ev)
			case "emit-nul":
				ev, _ := eventlog.NewEvent("Noted", map[string]string{"a": "nul \x00"})
				sc.Emit("notes-1", eventlog.Any, ev)
			case "emit-oversized":
				ev, _ := eventlog.NewEvent("Noted", map[string]string{"a": strings.Repeat("x", eventlog.DefaultMaxPayload+1)})
				sc.Emit("notes-1", eventlog.Any, ev)
			}
			return nil
		}, saga.Retry(fast)),
		saga.StartOnType("Unused", func(ctx context.Context, e eventlog.Envelope[unstorable]) (saga.Start[unstorable], error) {
			return saga.Start[unstorable]{CorrelationID: e.StreamID, State: e.Data}, nil
		}))
	modes := map[string]int{ // mode → attempts expected
		"error": 1, "panic": 2, "state-nul": 1, "state-nan": 1, "emit-stream": 1, "emit-nul": 1, "emit-oversized": 1,
	}
	for mode := range modes {
		startInstance(t, ctx, e, d.Name(), mode, []byte(fmt.Sprintf(`{"mode":%q}`, mode)))
	}
	runExecutor(t, ctx, e, d)
	for mode, attempts := range modes {
		id := saga.InstanceID(d.Name(), mode)
		inst := waitFinished(t, ctx, e, id, 15*time.Second)
		if inst.Status != saga.StatusCompensated {
			t.Errorf("%s: ended %s, want compensated (last error %q)", mode, inst.Status, inst.LastError)
		}
		if !storable(inst.LastError) {
			t.Errorf("%s: last error %q is not storable", mode, inst.LastError)
		}
		mu.Lock()
		n := runs[mode]
		mu.Unlock()
		if n != attempts {
			t.Errorf("%s: step ran %d times, want %d", mode, n, attempts)
		}
		h, err := e.Store.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, x := range h {
			if x.Step == "act" && x.Outcome == saga.OutcomeFailed {
				failed++
				if x.Error == "" || !storable(x.Error) {
					t.Errorf("%s: history error %q", mode, x.Error)
				}
			}
		}
		if failed != attempts {
			t.Errorf("%s: %d failed attempts in history, want %d: %+v", mode, failed, attempts, h)
		}
		want := map[string]string{"error": `bad \0 text ` + "\uFFFD", "panic": `bad \0 panic ` + "\uFFFD"}[mode]
		if want != "" && !strings.Contains(lastFailure(h), want) {
			t.Errorf("%s: recorded failure %q does not contain %q", mode, lastFailure(h), want)
		}
	}
	// Nothing the refused steps emitted reached the log.
	for ev, err := range e.Log.ReadStream(ctx, "notes-1", eventlog.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("a refused emit was appended: %+v", ev)
	}
}

// lastFailure is the error of the last failed attempt in h.
func lastFailure(h []saga.HistoryEntry) string {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Outcome == saga.OutcomeFailed {
			return h[i].Error
		}
	}
	return ""
}

// transfer debits an account by emitting to its stream at the version the
// step read.
type transfer struct {
	Account string `json:"account"`
	Amount  int    `json:"amount"`
}

// testConflict: three sagas debit one account at once, each emitting with
// the exact version its step read. Two of the three emits conflict; each
// conflict fails that attempt at once (retryable, in the history), and the
// step runs again on fresh state: all three complete within seconds.
func testConflict(t *testing.T, e Env) {
	ctx := ctxT(t)
	const n = 3
	var (
		mu      sync.Mutex
		arrived int
		all     = make(chan struct{})
	)
	// The first attempts all read the stream before any of them records,
	// so all but one conflict.
	barrier := func() {
		mu.Lock()
		arrived++
		if arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
	}
	d := saga.New[transfer]("transfer", saga.Step("debit", func(ctx context.Context, sc *saga.StepContext[transfer]) error {
		var version int64
		for ev, err := range e.Log.ReadStream(ctx, sc.State.Account, eventlog.ReadStreamOptions{Direction: eventlog.Backwards, Limit: 1}) {
			if err != nil {
				return err
			}
			version = ev.Version
		}
		if sc.Attempt == 1 {
			barrier()
		}
		ev, err := eventlog.NewEvent("Debited", map[string]any{"amount": sc.State.Amount, "saga": sc.SagaID})
		if err != nil {
			return err
		}
		sc.Emit(sc.State.Account, eventlog.Exactly(version), ev)
		return nil
	}, saga.Retry(saga.RetryPolicy{MaxAttempts: 20, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, JitterPercent: 50})),
		saga.Step("notify", func(ctx context.Context, sc *saga.StepContext[transfer]) error { return nil }),
		saga.StartOnType("TransferRequested", func(ctx context.Context, e eventlog.Envelope[transfer]) (saga.Start[transfer], error) {
			return saga.Start[transfer]{CorrelationID: e.StreamID, State: e.Data}, nil
		}))

	for i := 0; i < n; i++ {
		startInstance(t, ctx, e, d.Name(), fmt.Sprint("t", i), []byte(fmt.Sprintf(`{"account":"account-a","amount":%d}`, i+1)))
	}
	began := time.Now()
	runExecutor(t, ctx, e, d)
	conflicts := 0
	for i := 0; i < n; i++ {
		id := saga.InstanceID(d.Name(), fmt.Sprint("t", i))
		inst := waitFinished(t, ctx, e, id, 10*time.Second)
		if inst.Status != saga.StatusCompleted {
			t.Fatalf("t%d ended %s (%q)", i, inst.Status, inst.LastError)
		}
		h, _ := e.Store.History(ctx, id)
		for _, x := range h {
			if x.Step == "debit" && x.Outcome == saga.OutcomeFailed && strings.Contains(x.Error, "expected version") {
				conflicts++
			}
		}
	}
	t.Logf("3 concurrent transfers completed in %v with %d conflicts", time.Since(began).Round(time.Millisecond), conflicts)
	if conflicts < n-1 {
		t.Fatalf("%d conflicts in the histories, want at least %d", conflicts, n-1)
	}
	var versions []int64
	for ev, err := range e.Log.ReadStream(ctx, "account-a", eventlog.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, ev.Version)
	}
	if len(versions) != n {
		t.Fatalf("account stream has versions %v, want one debit per transfer", versions)
	}
}

// testRecordRefusals: the store contract for outcomes it cannot store. Error
// text is stored sanitized; an emit that conflicts, an invalid emit and a
// state PostgreSQL refuses are refused as *saga.RefusedError (a conflict
// retryable, the rest permanent) with nothing written.
func testRecordRefusals(t *testing.T, e Env) {
	ctx := ctxT(t)
	if _, err := e.Store.Start(ctx, nil, newInstance("r", "1")); err != nil {
		t.Fatal(err)
	}
	claimed, err := e.Store.Claim(ctx, []string{"r"}, "a", 1, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	c := claimed[0]
	ev, _ := eventlog.NewEvent("Noted", map[string]int{"n": 1})
	if _, err := e.Log.Append(ctx, "notes-r", eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
	ok := saga.HistoryEntry{Step: "s", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted}
	for _, tc := range []struct {
		name      string
		state     string
		emits     []saga.Emit
		permanent bool
	}{
		{"conflict", `{"n":2}`, []saga.Emit{
			{StreamID: "notes-other", Expected: eventlog.Any, Events: []eventlog.EventData{ev}},
			{StreamID: "notes-r", Expected: eventlog.Exactly(0), Events: []eventlog.EventData{ev}},
		}, false},
		{"invalid stream", `{"n":2}`, []saga.Emit{{StreamID: "no spaces allowed", Expected: eventlog.Any, Events: []eventlog.EventData{ev}}}, true},
		{"no events", `{"n":2}`, []saga.Emit{{StreamID: "notes-r", Expected: eventlog.Any}}, true},
		{"bad expected version", `{"n":2}`, []saga.Emit{{StreamID: "notes-r", Expected: eventlog.ExpectedVersion(-42), Events: []eventlog.EventData{ev}}}, true},
		{"state", `{"n":"\u0000"}`, nil, true},
	} {
		next := c
		next.Step, next.State = 1, []byte(tc.state)
		_, err := e.Store.Record(ctx, c, next, ok, saga.Effects{Emits: tc.emits}, nil, 0)
		var refused *saga.RefusedError
		if !errors.Is(err, saga.ErrOutcomeRefused) || !errors.As(err, &refused) || refused.Permanent != tc.permanent {
			t.Fatalf("%s: Record = %v; want a refusal (permanent %v)", tc.name, err, tc.permanent)
		}
		if tc.name == "conflict" && !errors.Is(err, eventlog.ErrWrongExpectedVersion) {
			t.Fatalf("conflict: %v does not match eventlog.ErrWrongExpectedVersion", err)
		}
	}
	// Nothing was written.
	if got, _ := e.Store.Get(ctx, c.ID); got.Version != c.Version || got.Step != 0 {
		t.Fatalf("a refused record changed the instance: %+v", got)
	}
	if h, _ := e.Store.History(ctx, c.ID); len(h) != 0 {
		t.Fatalf("a refused record wrote history: %+v", h)
	}
	for ev, err := range e.Log.ReadStream(ctx, "notes-other", eventlog.ReadStreamOptions{}) {
		t.Fatalf("a refused record appended %+v (%v)", ev, err)
	}

	// Error text PostgreSQL cannot store is stored sanitized.
	next := c
	next.LastError = "nul \x00 and \xff"
	failed := saga.HistoryEntry{Step: "s", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeFailed, Error: "nul \x00 and \xff" + strings.Repeat("x", saga.MaxErrorText)}
	rec, err := e.Store.Record(ctx, c, next, failed, saga.Effects{}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := `nul \0 and ` + "\uFFFD"
	got, _ := e.Store.Get(ctx, c.ID)
	h, _ := e.Store.History(ctx, c.ID)
	if rec.LastError != want || got.LastError != want || len(h) != 1 || !strings.HasPrefix(h[0].Error, want) ||
		len(h[0].Error) > saga.MaxErrorText || !storable(h[0].Error) {
		t.Fatalf("stored last error %q (returned %q), history %+v", got.LastError, rec.LastError, h)
	}
}

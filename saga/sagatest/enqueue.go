package sagatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
)

// declare declares queues in the environment's queue store.
func declare(t *testing.T, ctx context.Context, e Env, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := e.Queues.Declare(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
}

// depth is how many messages a queue holds (not acked, not dead).
func depth(t *testing.T, ctx context.Context, e Env, name string) int64 {
	t.Helper()
	st, err := e.Queues.Stats(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Depth
}

// drain dequeues every ready message of a queue, in delivery order.
func drain(t *testing.T, ctx context.Context, e Env, name string) []queue.Delivery {
	t.Helper()
	var out []queue.Delivery
	for {
		ds, err := e.Queues.Dequeue(ctx, name, 100, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return out
		}
		out = append(out, ds...)
	}
}

// testRecordEnqueues: the store contract for a step's enqueues. They are
// stored by Record with the outcome; an outcome whose enqueue the queue
// refuses (an undeclared queue, an invalid message, a message id already
// stored) is refused for good and writes nothing — no state, history,
// events or messages — and so is one refused for another reason (an emit
// that conflicts) or recorded after the lease was lost.
func testRecordEnqueues(t *testing.T, e Env) {
	ctx := ctxT(t)
	declare(t, ctx, e, "jobs", "mail")
	if _, err := e.Store.Start(ctx, nil, newInstance("q", "1")); err != nil {
		t.Fatal(err)
	}
	claimed, err := e.Store.Claim(ctx, []string{"q"}, "a", 1, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	c := claimed[0]
	ok := saga.HistoryEntry{Step: "s", Phase: saga.PhaseAction, Attempt: 1, Outcome: saga.OutcomeCompleted}
	next := c
	next.Step, next.State = 1, []byte(`{"n":2}`)

	// The message whose id a refused outcome reuses, so that it is taken.
	taken := uuid.New()
	if _, err := e.Queues.Enqueue(ctx, "jobs", queue.New(json.RawMessage(`{"seed":true}`), queue.WithID(taken))); err != nil {
		t.Fatal(err)
	}
	ev, _ := eventlog.NewEvent("Noted", map[string]int{"n": 1})
	if _, err := e.Log.Append(ctx, "notes-q", eventlog.Any, ev); err != nil {
		t.Fatal(err)
	}
	job := queue.New(json.RawMessage(`{"job":1}`))
	emit := saga.Emit{StreamID: "notes-fx", Expected: eventlog.Any, Events: []eventlog.EventData{ev}}
	for _, tc := range []struct {
		name      string
		fx        saga.Effects
		permanent bool
		is        error
	}{
		{"unknown queue", saga.Effects{Emits: []saga.Emit{emit}, Enqueues: []saga.Enqueue{
			{Queue: "mail", Messages: []queue.Outgoing{job}},
			{Queue: "nope", Messages: []queue.Outgoing{job}},
		}}, true, queue.ErrUnknownQueue},
		{"invalid payload", saga.Effects{Emits: []saga.Emit{emit}, Enqueues: []saga.Enqueue{
			{Queue: "jobs", Messages: []queue.Outgoing{job, queue.New(json.RawMessage(`{not json`))}},
		}}, true, queue.ErrInvalidMessage},
		{"invalid queue name", saga.Effects{Enqueues: []saga.Enqueue{
			{Queue: "no spaces allowed", Messages: []queue.Outgoing{job}},
		}}, true, queue.ErrInvalidMessage},
		{"message id taken", saga.Effects{Emits: []saga.Emit{emit}, Enqueues: []saga.Enqueue{
			{Queue: "jobs", Messages: []queue.Outgoing{job, queue.New(json.RawMessage(`{}`), queue.WithID(taken))}},
		}}, true, queue.ErrInvalidMessage},
		{"message id twice", saga.Effects{Enqueues: []saga.Enqueue{
			{Queue: "jobs", Messages: []queue.Outgoing{queue.New(json.RawMessage(`{}`), queue.WithID(c.ID))}},
			{Queue: "mail", Messages: []queue.Outgoing{queue.New(json.RawMessage(`{}`), queue.WithID(c.ID))}},
		}}, true, queue.ErrInvalidMessage},
		{"emit conflicts", saga.Effects{
			Emits:    []saga.Emit{{StreamID: "notes-q", Expected: eventlog.Exactly(0), Events: []eventlog.EventData{ev}}},
			Enqueues: []saga.Enqueue{{Queue: "jobs", Messages: []queue.Outgoing{job}}},
		}, false, eventlog.ErrWrongExpectedVersion},
	} {
		_, err := e.Store.Record(ctx, c, next, ok, tc.fx, nil, 0)
		var refused *saga.RefusedError
		if !errors.As(err, &refused) || refused.Permanent != tc.permanent || !errors.Is(err, tc.is) {
			t.Fatalf("%s: Record = %v; want a refusal (permanent %v) matching %v", tc.name, err, tc.permanent, tc.is)
		}
	}
	// The lease was lost meanwhile: the outcome, enqueues included, is not
	// recorded.
	stale := c
	stale.Version--
	if _, err := e.Store.Record(ctx, stale, next, ok, saga.Effects{Enqueues: []saga.Enqueue{{Queue: "jobs", Messages: []queue.Outgoing{job}}}}, nil, 0); !errors.Is(err, saga.ErrLeaseLost) {
		t.Fatalf("stale record: %v", err)
	}
	// Nothing was written.
	if got, _ := e.Store.Get(ctx, c.ID); got.Version != c.Version || got.Step != 0 {
		t.Fatalf("a refused record changed the instance: %+v", got)
	}
	if h, _ := e.Store.History(ctx, c.ID); len(h) != 0 {
		t.Fatalf("a refused record wrote history: %+v", h)
	}
	for ev, err := range e.Log.ReadStream(ctx, "notes-fx", eventlog.ReadStreamOptions{}) {
		t.Fatalf("a refused record appended %+v (%v)", ev, err)
	}
	if d, m := depth(t, ctx, e, "jobs"), depth(t, ctx, e, "mail"); d != 1 || m != 0 {
		t.Fatalf("refused records enqueued messages: jobs holds %d (want only the seed), mail %d", d, m)
	}

	// An outcome with enqueues to two queues stores them all, as given.
	id := uuid.New()
	at := time.Now().Add(time.Hour)
	fx := saga.Effects{Emits: []saga.Emit{emit}, Enqueues: []saga.Enqueue{
		{Queue: "jobs", Messages: []queue.Outgoing{
			queue.New(json.RawMessage(`{"job":1}`), queue.WithID(id), queue.Header("h", "v"), queue.Priority(5)),
			queue.New(json.RawMessage(`{"job":2}`)),
		}},
		{Queue: "mail", Messages: []queue.Outgoing{queue.New(json.RawMessage(`{"later":true}`), queue.NotBefore(at))}},
	}}
	if _, err := e.Store.Record(ctx, c, next, ok, fx, nil, 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Store.Get(ctx, c.ID); got.Version != c.Version+1 || got.Step != 1 {
		t.Fatalf("record did not store the outcome: %+v", got)
	}
	ds := drain(t, ctx, e, "jobs")
	var payloads []string
	for _, d := range ds {
		payloads = append(payloads, compactJSON(d.Payload))
	}
	if !slices.Equal(payloads, []string{`{"job":1}`, `{"seed":true}`, `{"job":2}`}) {
		t.Fatalf("jobs delivered %v", payloads)
	}
	if d := ds[0]; d.ID != id || d.Priority != 5 || d.Headers["h"] != "v" || d.Queue != "jobs" {
		t.Fatalf("enqueued message stored as %+v", d.Message)
	}
	if m := depth(t, ctx, e, "mail"); m != 1 {
		t.Fatalf("mail holds %d messages, want 1", m)
	}
	if early := drain(t, ctx, e, "mail"); len(early) != 0 {
		t.Fatalf("a message not before %v was delivered at once: %+v", at, early)
	}
}

func compactJSON(b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// job is what the enqueuing saga's steps enqueue.
type job struct {
	Corr    string `json:"corr"`
	What    string `json:"what"`
	Attempt int    `json:"attempt"`
}

// testStepEnqueues runs sagas whose steps enqueue through the executor: a
// completed step's messages are enqueued once, a failed attempt's never
// (only the attempt that succeeds enqueues, once); an enqueue the queue
// refuses fails the step for good, so the saga compensates, and nothing of
// that step — its events, its other messages — is stored; compensations
// enqueue too.
func testStepEnqueues(t *testing.T, e Env) {
	ctx := ctxT(t)
	declare(t, ctx, e, "jobs")
	var (
		mu   sync.Mutex
		runs = map[string]int{}
	)
	enqueue := func(sc *saga.StepContext[unstorable], queueName, what string) {
		b, _ := json.Marshal(job{Corr: sc.CorrelationID, What: what, Attempt: sc.Attempt})
		sc.Enqueue(queueName, queue.New(b))
	}
	fast := worker.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	d := saga.New[unstorable]("enqueuing",
		saga.Step("reserve", func(ctx context.Context, sc *saga.StepContext[unstorable]) error {
			enqueue(sc, "jobs", "reserved")
			return nil
		}, saga.Retry(fast), saga.Compensate(func(ctx context.Context, sc *saga.StepContext[unstorable]) error {
			enqueue(sc, "jobs", "released")
			return nil
		})),
		saga.Step("charge", func(ctx context.Context, sc *saga.StepContext[unstorable]) error {
			mu.Lock()
			runs[sc.CorrelationID]++
			mu.Unlock()
			ev, _ := eventlog.NewEvent("Charged", map[string]string{"corr": sc.CorrelationID})
			sc.Emit("charges-"+sc.CorrelationID, eventlog.Any, ev)
			enqueue(sc, "jobs", "charged")
			switch sc.State.Mode {
			case "flaky":
				if sc.Attempt == 1 {
					return errors.New("flaky failure after enqueuing")
				}
			case "unknown":
				enqueue(sc, "nope", "charged")
			case "invalid":
				sc.Enqueue("jobs", queue.New(json.RawMessage(`{not json`)))
			}
			return nil
		}, saga.Retry(fast)),
		saga.StartOnType("Unused", func(ctx context.Context, e eventlog.Envelope[unstorable]) (saga.Start[unstorable], error) {
			return saga.Start[unstorable]{CorrelationID: e.StreamID, State: e.Data}, nil
		}))
	want := map[string]struct {
		status   saga.Status
		runs     int
		messages []string // what, and the attempt that enqueued it
	}{
		"ok":      {saga.StatusCompleted, 1, []string{"reserved@1", "charged@1"}},
		"flaky":   {saga.StatusCompleted, 2, []string{"reserved@1", "charged@2"}},
		"unknown": {saga.StatusCompensated, 1, []string{"reserved@1", "released@1"}},
		"invalid": {saga.StatusCompensated, 1, []string{"reserved@1", "released@1"}},
	}
	for mode := range want {
		startInstance(t, ctx, e, d.Name(), mode, []byte(fmt.Sprintf(`{"mode":%q}`, mode)))
	}
	runExecutor(t, ctx, e, d)
	for mode, w := range want {
		inst := waitFinished(t, ctx, e, saga.InstanceID(d.Name(), mode), 15*time.Second)
		if inst.Status != w.status {
			t.Errorf("%s: ended %s, want %s (last error %q)", mode, inst.Status, w.status, inst.LastError)
		}
		h, err := e.Store.History(ctx, inst.ID)
		if err != nil {
			t.Fatal(err)
		}
		if w.status == saga.StatusCompensated && !strings.Contains(lastFailure(h), "enqueue to") {
			t.Errorf("%s: compensated after %q, want the refused enqueue", mode, lastFailure(h))
		}
		mu.Lock()
		n := runs[mode]
		mu.Unlock()
		if n != w.runs {
			t.Errorf("%s: charge ran %d times, want %d", mode, n, w.runs)
		}
		var events int
		for _, err := range e.Log.ReadStream(ctx, "charges-"+mode, eventlog.ReadStreamOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			events++
		}
		if wantEvents := map[bool]int{true: 1, false: 0}[w.status == saga.StatusCompleted]; events != wantEvents {
			t.Errorf("%s: charge's emit stored %d times, want %d", mode, events, wantEvents)
		}
	}
	got := map[string][]string{}
	for _, d := range drain(t, ctx, e, "jobs") {
		var j job
		if err := json.Unmarshal(d.Payload, &j); err != nil {
			t.Fatal(err)
		}
		got[j.Corr] = append(got[j.Corr], fmt.Sprintf("%s@%d", j.What, j.Attempt))
	}
	for mode, w := range want {
		if !slices.Equal(got[mode], w.messages) {
			t.Errorf("%s: enqueued %v, want %v", mode, got[mode], w.messages)
		}
	}
}

// Package queuetest is the conformance suite every queue.Store passes. The
// PostgreSQL and memory stores run it from their own tests:
//
//	queuetest.Run(t, queuetest.Harness{New: ..., Advance: ...})
//
// Each test asks for a fresh, empty store.
package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/worker/queue"
)

// Harness gives the suite stores and a way to let time pass.
type Harness struct {
	// New returns a fresh, empty store; it registers its own cleanup.
	New func(t *testing.T) queue.Store
	// Advance lets d pass on the store's clock: a fake clock moves, a
	// store on real time (PostgreSQL's now()) waits.
	Advance func(t *testing.T, d time.Duration)
}

// tick is the unit of the suite's timeouts: short, as a store on real time
// waits for it, and long enough that a timeout runs out only when Advance
// was called.
const tick = 300 * time.Millisecond

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"DeclareAndList", testDeclare},
		{"EnqueueDequeueAck", testEnqueueDequeueAck},
		{"VisibilityExpiryRedeliversAndOldReceiptIsStale", testVisibilityExpiry},
		{"ExtendKeepsMessageInvisible", testExtend},
		{"DelayedMessageNotDeliveredEarly", testDelay},
		{"DedupWithinWindow", testDedup},
		{"PriorityThenOldest", testPriority},
		{"MaxAttemptsDeadLetterRequeueDiscard", testDeadLetters},
		{"VisibilityExpiryAtMaxAttemptsIsDead", testExpiryDead},
		{"DeadLetterByID", testDeadLetterByID},
		{"NackDelay", testNackDelay},
		{"Stats", testStats},
		{"Retention", testRetention},
		{"Errors", testErrors},
		{"ConcurrentConsumers", testConcurrent},
		{"ReleaseDoesNotCountAnAttempt", testRelease},
		{"FailDeadLettersAtOnce", testFail},
		{"AckDequeueAcksFirst", testAckDequeue},
		{"AckMany", testAckMany},
		{"NextAvailable", testNextAvailable},
		{"NotifierWakes", testNotifier},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func declare(t *testing.T, s queue.Store, name string, opts ...queue.Option) {
	t.Helper()
	if _, err := s.Declare(ctxOf(t), name, opts...); err != nil {
		t.Fatal(err)
	}
}

func enqueue(t *testing.T, s queue.Store, q string, msgs ...queue.Outgoing) []queue.Enqueued {
	t.Helper()
	out, err := s.Enqueue(ctxOf(t), q, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(msgs) {
		t.Fatalf("enqueue returned %d results for %d messages", len(out), len(msgs))
	}
	return out
}

func dequeue(t *testing.T, s queue.Store, q string, n int, vis time.Duration) []queue.Delivery {
	t.Helper()
	ds, err := s.Dequeue(ctxOf(t), q, n, vis)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func body(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)) }

func ids(ds []queue.Delivery) []uuid.UUID {
	out := make([]uuid.UUID, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func stats(t *testing.T, s queue.Store, q string) queue.Stats {
	t.Helper()
	st, err := s.Stats(ctxOf(t), q)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testDeclare(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "b")
	declare(t, s, "a", queue.VisibilityTimeout(time.Minute), queue.MaxAttempts(3), queue.Retention(time.Hour))
	c, err := s.Queue(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := queue.Config{Name: "a", VisibilityTimeout: time.Minute, MaxAttempts: 3, Retention: time.Hour}
	if c != want {
		t.Fatalf("Queue(a) = %+v, want %+v", c, want)
	}
	// Declaring again updates the configuration.
	declare(t, s, "a", queue.MaxAttempts(7))
	all, err := s.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "a" || all[0].MaxAttempts != 7 || all[0].VisibilityTimeout != queue.DefaultVisibilityTimeout ||
		all[1] != (queue.Config{Name: "b", VisibilityTimeout: queue.DefaultVisibilityTimeout, MaxAttempts: queue.DefaultMaxAttempts}) {
		t.Fatalf("Queues = %+v", all)
	}
}

func testEnqueueDequeueAck(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs")
	e := enqueue(t, s, "jobs", queue.New(body(1), queue.Header("k", "v")))
	ds := dequeue(t, s, "jobs", 10, time.Minute)
	if len(ds) != 1 {
		t.Fatalf("dequeued %d, want 1", len(ds))
	}
	d := ds[0]
	if d.ID != e[0].ID || d.Queue != "jobs" || string(d.Payload) != `{"n": 1}` && string(d.Payload) != `{"n":1}` ||
		!maps.Equal(d.Headers, map[string]string{"k": "v"}) || d.Attempts != 1 || d.Receipt == "" {
		t.Fatalf("delivery = %+v", d)
	}
	if !d.VisibleUntil.After(d.EnqueuedAt) {
		t.Fatalf("VisibleUntil %v not after EnqueuedAt %v", d.VisibleUntil, d.EnqueuedAt)
	}
	if again := dequeue(t, s, "jobs", 10, time.Minute); len(again) != 0 {
		t.Fatalf("an in-flight message was delivered again: %v", ids(again))
	}
	if err := s.Ack(ctx, d.Receipt); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, d.Receipt); !errors.Is(err, queue.ErrStaleReceipt) {
		t.Fatalf("second ack: %v, want ErrStaleReceipt", err)
	}
	if err := s.Ack(ctx, "not-a-receipt"); !errors.Is(err, queue.ErrStaleReceipt) {
		t.Fatalf("ack of a made-up receipt: %v, want ErrStaleReceipt", err)
	}
	if st := stats(t, s, "jobs"); st != (queue.Stats{}) {
		t.Fatalf("stats after ack = %+v, want empty", st)
	}
	if again := dequeue(t, s, "jobs", 10, time.Minute); len(again) != 0 {
		t.Fatalf("an acked message was delivered again: %v", ids(again))
	}
}

func testVisibilityExpiry(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs")
	e := enqueue(t, s, "jobs", queue.New(body(1)))
	first := dequeue(t, s, "jobs", 1, tick)
	if len(first) != 1 {
		t.Fatalf("dequeued %d, want 1", len(first))
	}
	h.Advance(t, tick+tick/2)
	second := dequeue(t, s, "jobs", 1, time.Minute)
	if len(second) != 1 || second[0].ID != e[0].ID || second[0].Attempts != 2 || second[0].Receipt == first[0].Receipt {
		t.Fatalf("after the visibility ran out: %+v, want message %s again, attempt 2, new receipt", second, e[0].ID)
	}
	old := first[0].Receipt
	if err := s.Ack(ctx, old); !errors.Is(err, queue.ErrStaleReceipt) {
		t.Fatalf("ack with the old receipt: %v, want ErrStaleReceipt", err)
	}
	if _, err := s.Extend(ctx, old, time.Minute); !errors.Is(err, queue.ErrStaleReceipt) {
		t.Fatalf("extend with the old receipt: %v, want ErrStaleReceipt", err)
	}
	if _, err := s.Nack(ctx, old, 0, errors.New("x")); !errors.Is(err, queue.ErrStaleReceipt) {
		t.Fatalf("nack with the old receipt: %v, want ErrStaleReceipt", err)
	}
	// The stale receipt did not touch the current delivery.
	if again := dequeue(t, s, "jobs", 1, time.Minute); len(again) != 0 {
		t.Fatalf("the current delivery was released by a stale receipt: %v", ids(again))
	}
	if err := s.Ack(ctx, second[0].Receipt); err != nil {
		t.Fatalf("ack with the current receipt: %v", err)
	}
}

func testExtend(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs")
	enqueue(t, s, "jobs", queue.New(body(1)))
	ds := dequeue(t, s, "jobs", 1, tick)
	until, err := s.Extend(ctx, ds[0].Receipt, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !until.After(ds[0].VisibleUntil) {
		t.Fatalf("Extend returned %v, not after the delivery's %v", until, ds[0].VisibleUntil)
	}
	h.Advance(t, tick+tick/2)
	if again := dequeue(t, s, "jobs", 1, time.Minute); len(again) != 0 {
		t.Fatalf("an extended message was delivered again after its first visibility: %v", ids(again))
	}
	if err := s.Ack(ctx, ds[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Extend(ctx, ds[0].Receipt, time.Minute); !errors.Is(err, queue.ErrStaleReceipt) {
		t.Fatalf("extend after ack: %v, want ErrStaleReceipt", err)
	}
}

func testDelay(t *testing.T, h Harness) {
	s := h.New(t)
	declare(t, s, "jobs")
	const vis = time.Minute
	e := enqueue(t, s, "jobs",
		queue.New(body(1), queue.Delay(tick)),
		queue.New(body(2), queue.Delay(time.Hour)),
		queue.New(body(3), queue.NotBefore(time.Now().Add(time.Hour))))
	// Poll until the short delay is over; the store's own clock says when
	// each delivery happened (VisibleUntil - vis), which must not be before
	// the message's enqueue time plus its delay.
	var got []queue.Delivery
	for i := 0; i < 20 && len(got) == 0; i++ {
		got = dequeue(t, s, "jobs", 10, vis)
		if len(got) == 0 {
			h.Advance(t, tick/4)
		}
	}
	if len(got) != 1 || got[0].ID != e[0].ID {
		t.Fatalf("delivered %v, want only the short-delay message %s", ids(got), e[0].ID)
	}
	if at := got[0].VisibleUntil.Add(-vis); at.Before(got[0].EnqueuedAt.Add(tick)) {
		t.Fatalf("delivered at %v, before its available time %v", at, got[0].EnqueuedAt.Add(tick))
	}
	st := stats(t, s, "jobs")
	if st.Depth != 3 || st.Ready != 0 || st.InFlight != 1 {
		t.Fatalf("stats = %+v, want depth 3 (2 delayed, 1 in flight)", st)
	}
}

func testDedup(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs")
	first := enqueue(t, s, "jobs", queue.New(body(1), queue.Dedup("k", 2*tick)), queue.New(body(2), queue.Dedup("k", 2*tick)))
	if first[0].Duplicate || !first[1].Duplicate || first[1].ID != first[0].ID {
		t.Fatalf("one batch with a key twice: %+v, want the second a duplicate of the first", first)
	}
	// The key outlives the message: acked, it still dedups within the window.
	ds := dequeue(t, s, "jobs", 10, time.Minute)
	if len(ds) != 1 {
		t.Fatalf("dequeued %d, want 1", len(ds))
	}
	if err := s.Ack(ctx, ds[0].Receipt); err != nil {
		t.Fatal(err)
	}
	again := enqueue(t, s, "jobs", queue.New(body(3), queue.Dedup("k", 2*tick)), queue.New(body(4), queue.Dedup("other", 2*tick)))
	if !again[0].Duplicate || again[0].ID != first[0].ID || again[1].Duplicate {
		t.Fatalf("within the window: %+v, want the key a duplicate and another key not", again)
	}
	h.Advance(t, 2*tick+tick/2)
	after := enqueue(t, s, "jobs", queue.New(body(5), queue.Dedup("k", 2*tick)))
	if after[0].Duplicate {
		t.Fatal("after the window a key still deduplicated")
	}
	if st := stats(t, s, "jobs"); st.Depth != 2 {
		t.Fatalf("depth %d, want 2 (other, and k after its window)", st.Depth)
	}
}

func testPriority(t *testing.T, h Harness) {
	s := h.New(t)
	declare(t, s, "jobs")
	var want [4]uuid.UUID
	for i, p := range []int{0, 10, 5, 10} {
		e := enqueue(t, s, "jobs", queue.New(body(i), queue.Priority(p)))
		want[[]int{3, 0, 2, 1}[i]] = e[0].ID
		h.Advance(t, time.Millisecond) // distinct enqueue times
	}
	got := ids(dequeue(t, s, "jobs", 10, time.Minute))
	if len(got) != 4 || [4]uuid.UUID(got) != want {
		t.Fatalf("order %v, want %v (priority 10, 10, 5, 0; oldest first within one)", got, want)
	}
	// One at a time gives the same order.
	s2 := h.New(t)
	declare(t, s2, "jobs")
	enqueue(t, s2, "jobs", queue.New(body(0)), queue.New(body(1), queue.Priority(-1)), queue.New(body(2), queue.Priority(3)))
	var prios []int
	for range 3 {
		ds := dequeue(t, s2, "jobs", 1, time.Minute)
		if len(ds) != 1 {
			t.Fatalf("dequeued %d, want 1", len(ds))
		}
		prios = append(prios, ds[0].Priority)
	}
	if fmt.Sprint(prios) != "[3 0 -1]" {
		t.Fatalf("priorities one at a time %v, want [3 0 -1]", prios)
	}
}

func testDeadLetters(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs", queue.MaxAttempts(2))
	e := enqueue(t, s, "jobs", queue.New(body(1), queue.Header("h", "1")))
	fail := func(msg string) bool {
		t.Helper()
		ds := dequeue(t, s, "jobs", 1, time.Minute)
		if len(ds) != 1 || ds[0].ID != e[0].ID {
			t.Fatalf("dequeued %v, want %s", ids(ds), e[0].ID)
		}
		dead, err := s.Nack(ctx, ds[0].Receipt, 0, errors.New(msg))
		if err != nil {
			t.Fatal(err)
		}
		return dead
	}
	if fail("boom 1") {
		t.Fatal("dead after attempt 1 of 2")
	}
	if !fail("boom 2") {
		t.Fatal("not dead after attempt 2 of 2")
	}
	e = append(e, enqueue(t, s, "jobs", queue.New(body(2)))...)
	dls, err := s.DeadLetters(ctx, "jobs", uuid.Nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].ID != e[0].ID || dls[0].LastError != "boom 2" || dls[0].Attempts != 2 ||
		dls[0].Headers["h"] != "1" || dls[0].DeadAt.IsZero() {
		t.Fatalf("dead letters = %+v", dls)
	}
	if st := stats(t, s, "jobs"); st.Dead != 1 || st.Depth != 1 {
		t.Fatalf("stats %+v, want 1 dead, depth 1", st)
	}
	// The other message is unaffected, and the dead one is not delivered.
	ds := dequeue(t, s, "jobs", 10, time.Minute)
	if len(ds) != 1 || ds[0].ID != e[1].ID {
		t.Fatalf("dequeued %v, want only %s", ids(ds), e[1].ID)
	}
	if err := s.Requeue(ctx, "jobs", e[0].ID); err != nil {
		t.Fatal(err)
	}
	back := dequeue(t, s, "jobs", 10, time.Minute)
	if len(back) != 1 || back[0].ID != e[0].ID || back[0].Attempts != 1 {
		t.Fatalf("after requeue: %+v, want %s on attempt 1", back, e[0].ID)
	}
	if err := s.Requeue(ctx, "jobs", e[0].ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("requeue of a live message: %v, want ErrNotFound", err)
	}
	if err := s.Discard(ctx, "jobs", e[0].ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("discard of a live message: %v, want ErrNotFound", err)
	}
	if _, err := s.Nack(ctx, back[0].Receipt, 0, errors.New("boom 3")); err != nil {
		t.Fatal(err)
	}
	if !fail("boom 4") {
		t.Fatal("not dead after its second attempt since requeue")
	}
	if err := s.Discard(ctx, "jobs", e[0].ID); err != nil {
		t.Fatal(err)
	}
	if dls, err := s.DeadLetters(ctx, "jobs", uuid.Nil, 10); err != nil || len(dls) != 0 {
		t.Fatalf("dead letters after discard: %v, %v", dls, err)
	}
	if err := s.Requeue(ctx, "jobs", e[0].ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("requeue of a discarded message: %v, want ErrNotFound", err)
	}
}

func testExpiryDead(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs", queue.MaxAttempts(1))
	e := enqueue(t, s, "jobs", queue.New(body(1)))
	if ds := dequeue(t, s, "jobs", 1, tick); len(ds) != 1 {
		t.Fatalf("dequeued %d, want 1", len(ds))
	}
	h.Advance(t, tick+tick/2)
	if ds := dequeue(t, s, "jobs", 1, time.Minute); len(ds) != 0 {
		t.Fatalf("a message with no attempts left was delivered again: %v", ids(ds))
	}
	dls, err := s.DeadLetters(ctx, "jobs", uuid.Nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].ID != e[0].ID || dls[0].LastError != "visibility timeout expired on attempt 1" {
		t.Fatalf("dead letters = %+v", dls)
	}
}

func testNackDelay(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs")
	enqueue(t, s, "jobs", queue.New(body(1)))
	ds := dequeue(t, s, "jobs", 1, time.Minute)
	if _, err := s.Nack(ctx, ds[0].Receipt, time.Hour, errors.New("later")); err != nil {
		t.Fatal(err)
	}
	if again := dequeue(t, s, "jobs", 1, time.Minute); len(again) != 0 {
		t.Fatalf("delivered before its nack delay: %v", ids(again))
	}
	if err := s.Ack(ctx, ds[0].Receipt); !errors.Is(err, queue.ErrStaleReceipt) {
		t.Fatalf("ack after nack: %v, want ErrStaleReceipt", err)
	}
	// Nack without delay: ready at once.
	enqueue(t, s, "jobs", queue.New(body(2)))
	ds = dequeue(t, s, "jobs", 1, time.Minute)
	if _, err := s.Nack(ctx, ds[0].Receipt, 0, nil); err != nil {
		t.Fatal(err)
	}
	if again := dequeue(t, s, "jobs", 1, time.Minute); len(again) != 1 || again[0].ID != ds[0].ID || again[0].Attempts != 2 {
		t.Fatalf("after nack without delay: %+v", again)
	}
}

func testStats(t *testing.T, h Harness) {
	s := h.New(t)
	declare(t, s, "jobs")
	enqueue(t, s, "jobs", queue.New(body(1)), queue.New(body(2)), queue.New(body(3)), queue.New(body(4), queue.Delay(time.Hour)))
	h.Advance(t, tick)
	dequeue(t, s, "jobs", 1, time.Minute)
	st := stats(t, s, "jobs")
	if st.Depth != 4 || st.Ready != 2 || st.InFlight != 1 || st.Dead != 0 || st.OldestReadyAge < tick {
		t.Fatalf("stats = %+v, want depth 4, 2 ready, 1 in flight, oldest ready ≥ %v", st, tick)
	}
}

func testRetention(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "kept", queue.Retention(tick))
	declare(t, s, "gone")
	enqueue(t, s, "kept", queue.New(body(1)))
	enqueue(t, s, "gone", queue.New(body(2)))
	for _, q := range []string{"kept", "gone"} {
		ds := dequeue(t, s, q, 1, time.Minute)
		if err := s.Ack(ctx, ds[0].Receipt); err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(ctx, ds[0].Receipt); !errors.Is(err, queue.ErrStaleReceipt) {
			t.Fatalf("%s: second ack %v, want ErrStaleReceipt", q, err)
		}
		if again := dequeue(t, s, q, 1, time.Minute); len(again) != 0 {
			t.Fatalf("%s: an acked message was delivered again", q)
		}
		if st := stats(t, s, q); st != (queue.Stats{}) {
			t.Fatalf("%s: stats %+v, want empty", q, st)
		}
	}
	h.Advance(t, tick+tick/2)
	n, err := s.Purge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("purge removed %d, want the one kept acked message", n)
	}
}

func testErrors(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs")
	if _, err := s.Enqueue(ctx, "nope", queue.New(body(1))); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Fatalf("enqueue to an undeclared queue: %v", err)
	}
	if _, err := s.Dequeue(ctx, "nope", 1, 0); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Fatalf("dequeue from an undeclared queue: %v", err)
	}
	if _, err := s.Stats(ctx, "nope"); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Fatalf("stats of an undeclared queue: %v", err)
	}
	if _, err := s.Queue(ctx, "nope"); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Fatalf("Queue of an undeclared queue: %v", err)
	}
	if _, err := s.Declare(ctx, "1bad name"); !errors.Is(err, queue.ErrInvalidMessage) {
		t.Fatalf("declare with a bad name: %v", err)
	}
	if _, err := s.Declare(ctx, "ok", queue.MaxAttempts(0)); !errors.Is(err, queue.ErrInvalidMessage) {
		t.Fatalf("declare with max attempts 0: %v", err)
	}
	big := make([]byte, queue.MaxPayload+10)
	big[0], big[len(big)-1] = '"', '"'
	for i := 1; i < len(big)-1; i++ {
		big[i] = 'x'
	}
	for name, m := range map[string]queue.Outgoing{
		"not JSON":   queue.New(json.RawMessage(`{`)),
		"empty":      queue.New(nil),
		`\u0000`:     queue.New(json.RawMessage(`"a\u0000b"`)),
		"oversized":  queue.New(big),
		"bad header": queue.New(body(1), queue.Header("k", "\xff")),
		"negative":   queue.New(body(1), queue.Delay(-time.Second)),
		"long dedup": queue.New(body(1), queue.Dedup(string(make([]byte, 600)), 0)),
	} {
		// A bad message refuses the whole batch.
		if _, err := s.Enqueue(ctx, "jobs", queue.New(body(0)), m); !errors.Is(err, queue.ErrInvalidMessage) {
			t.Errorf("%s: %v, want ErrInvalidMessage", name, err)
		}
	}
	id := uuid.New()
	enqueue(t, s, "jobs", queue.New(body(1), queue.WithID(id)))
	if _, err := s.Enqueue(ctx, "jobs", queue.New(body(2)), queue.New(body(3), queue.WithID(id))); !errors.Is(err, queue.ErrInvalidMessage) {
		t.Fatalf("enqueue with a taken id: %v, want ErrInvalidMessage", err)
	}
	if st := stats(t, s, "jobs"); st.Depth != 1 {
		t.Fatalf("refused batches wrote something: depth %d, want 1", st.Depth)
	}
}

// testConcurrent: consumers dequeue and ack at once; no message is held by
// two of them at the same time, and each is acked exactly once.
func testConcurrent(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs")
	const total, consumers = 300, 4
	batch := make([]queue.Outgoing, total)
	for i := range batch {
		batch[i] = queue.New(body(i), queue.Priority(i%3))
	}
	enqueue(t, s, "jobs", batch...)

	var (
		mu      sync.Mutex
		holding = map[uuid.UUID]bool{}
		acked   = map[uuid.UUID]int{}
		wg      sync.WaitGroup
		errs    = make(chan error, consumers)
	)
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ds, err := s.Dequeue(ctx, "jobs", 5, time.Minute)
				if err != nil {
					errs <- err
					return
				}
				if len(ds) == 0 {
					return
				}
				for _, d := range ds {
					mu.Lock()
					if holding[d.ID] {
						mu.Unlock()
						errs <- fmt.Errorf("message %s held by two consumers at once", d.ID)
						return
					}
					holding[d.ID] = true
					mu.Unlock()
				}
				for _, d := range ds {
					if err := s.Ack(ctx, d.Receipt); err != nil {
						errs <- fmt.Errorf("ack %s: %w", d.ID, err)
						return
					}
					// Released after the ack: until then no one else may get it.
					mu.Lock()
					delete(holding, d.ID)
					acked[d.ID]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(acked) != total {
		t.Fatalf("%d messages acked, want %d", len(acked), total)
	}
	for id, n := range acked {
		if n != 1 {
			t.Errorf("message %s acked %d times", id, n)
		}
	}
	if st := stats(t, s, "jobs"); st != (queue.Stats{}) {
		t.Fatalf("stats after all acked: %+v", st)
	}
}

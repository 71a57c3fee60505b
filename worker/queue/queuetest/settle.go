package queuetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/worker/queue"
)

func testRelease(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	// One attempt only: a release that counted would make the next
	// delivery impossible (dead on expiry) or the message dead.
	declare(t, s, "jobs", queue.MaxAttempts(1))
	e := enqueue(t, s, "jobs", queue.New(body(1)))
	for range 3 {
		ds := dequeue(t, s, "jobs", 1, time.Minute)
		if len(ds) != 1 || ds[0].ID != e[0].ID || ds[0].Attempts != 1 {
			t.Fatalf("after release: %+v, want %s on attempt 1", ds, e[0].ID)
		}
		if err := s.Release(ctx, ds[0].Receipt); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, ds[0].Receipt); !errors.Is(err, queue.ErrStaleReceipt) {
			t.Fatalf("second release: %v, want ErrStaleReceipt", err)
		}
		if err := s.Ack(ctx, ds[0].Receipt); !errors.Is(err, queue.ErrStaleReceipt) {
			t.Fatalf("ack after release: %v, want ErrStaleReceipt", err)
		}
	}
	if st := stats(t, s, "jobs"); st.Ready != 1 || st.Dead != 0 {
		t.Fatalf("stats %+v, want the message ready, none dead", st)
	}
	// A late holder (its visibility ran out) may still release while no
	// one else took the message.
	first := dequeue(t, s, "jobs", 1, tick)
	h.Advance(t, tick+tick/2)
	if err := s.Release(ctx, first[0].Receipt); err != nil {
		t.Fatalf("release by a late holder before redelivery: %v", err)
	}
	// A stale receipt releases nothing: the current delivery stays held.
	declare(t, s, "two", queue.MaxAttempts(3))
	enqueue(t, s, "two", queue.New(body(2)))
	old := dequeue(t, s, "two", 1, tick)
	h.Advance(t, tick+tick/2)
	cur := dequeue(t, s, "two", 1, time.Minute)
	if len(cur) != 1 || cur[0].Attempts != 2 {
		t.Fatalf("redelivery: %+v", cur)
	}
	if err := s.Release(ctx, old[0].Receipt); !errors.Is(err, queue.ErrStaleReceipt) {
		t.Fatalf("release with the old receipt: %v, want ErrStaleReceipt", err)
	}
	if again := dequeue(t, s, "two", 1, time.Minute); len(again) != 0 {
		t.Fatalf("a stale receipt released the current delivery: %v", ids(again))
	}
	if err := s.Release(ctx, "not-a-receipt"); !errors.Is(err, queue.ErrStaleReceipt) {
		t.Fatalf("release of a made-up receipt: %v, want ErrStaleReceipt", err)
	}
}

func testFail(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs", queue.MaxAttempts(5))
	e := enqueue(t, s, "jobs", queue.New(body(1)), queue.New(body(2)))
	ds := dequeue(t, s, "jobs", 1, time.Minute)
	if err := s.Fail(ctx, ds[0].Receipt, errors.New("cannot decode")); err != nil {
		t.Fatal(err)
	}
	dls, err := s.DeadLetters(ctx, "jobs", uuid.Nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].ID != e[0].ID || dls[0].LastError != "cannot decode" || dls[0].Attempts != 1 {
		t.Fatalf("dead letters after Fail on attempt 1 of 5: %+v", dls)
	}
	for _, op := range []func() error{
		func() error { return s.Fail(ctx, ds[0].Receipt, errors.New("again")) },
		func() error { return s.Ack(ctx, ds[0].Receipt) },
		func() error { return s.Fail(ctx, "not-a-receipt", nil) },
	} {
		if err := op(); !errors.Is(err, queue.ErrStaleReceipt) {
			t.Fatalf("after Fail: %v, want ErrStaleReceipt", err)
		}
	}
	if again := dequeue(t, s, "jobs", 10, time.Minute); len(again) != 1 || again[0].ID != e[1].ID {
		t.Fatalf("dequeued %v, want only %s (the failed one is dead)", ids(again), e[1].ID)
	}
	if st := stats(t, s, "jobs"); st.Dead != 1 || st.Depth != 1 {
		t.Fatalf("stats %+v, want 1 dead, depth 1", st)
	}
}

func testAckMany(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs")
	declare(t, s, "kept", queue.Retention(2*tick))
	batch := make([]queue.Outgoing, 5)
	for i := range batch {
		batch[i] = queue.New(body(i))
	}
	enqueue(t, s, "jobs", batch...)
	enqueue(t, s, "kept", queue.New(body(9)))
	ds := dequeue(t, s, "jobs", 5, time.Minute)
	kept := dequeue(t, s, "kept", 1, time.Minute)
	if len(ds) != 5 || len(kept) != 1 {
		t.Fatalf("dequeued %d and %d, want 5 and 1", len(ds), len(kept))
	}
	if stale, err := s.AckMany(ctx, nil); err != nil || len(stale) != 0 {
		t.Fatalf("AckMany(nil) = %v, %v", stale, err)
	}
	if err := s.Ack(ctx, ds[1].Receipt); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Nack(ctx, ds[3].Receipt, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	in := []queue.Receipt{ds[0].Receipt, ds[1].Receipt, "not-a-receipt", ds[2].Receipt, kept[0].Receipt, ds[3].Receipt, ds[4].Receipt}
	stale, err := s.AckMany(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []queue.Receipt{ds[1].Receipt, "not-a-receipt", ds[3].Receipt}; !slices.Equal(stale, want) {
		t.Fatalf("stale = %v, want %v (acked before, made up, nacked before; in order)", stale, want)
	}
	st := stats(t, s, "jobs")
	if st.Depth != 1 || st.InFlight != 0 {
		t.Fatalf("stats %+v, want only the nacked message left", st)
	}
	if st := stats(t, s, "kept"); st != (queue.Stats{}) {
		t.Fatalf("kept: stats %+v, want empty (acked and kept)", st)
	}
	if stale, err := s.AckMany(ctx, in); err != nil || len(stale) != len(in) {
		t.Fatalf("second AckMany: stale %v, %v; want all %d", stale, err, len(in))
	}
	// A receipt whose message was delivered again does not ack the new
	// delivery.
	enqueue(t, s, "jobs", queue.New(body(10)))
	old := dequeue(t, s, "jobs", 1, tick)
	h.Advance(t, tick+tick/2)
	cur := dequeue(t, s, "jobs", 1, time.Minute)
	if len(old) != 1 || len(cur) != 1 || cur[0].ID != old[0].ID {
		t.Fatalf("redelivery: %v then %v", ids(old), ids(cur))
	}
	if stale, err := s.AckMany(ctx, []queue.Receipt{old[0].Receipt}); err != nil || len(stale) != 1 {
		t.Fatalf("AckMany with the old receipt: stale %v, %v; want it stale", stale, err)
	}
	// Nor does it beside another message's current receipt in one batch.
	enqueue(t, s, "jobs", queue.New(body(11)))
	other := dequeue(t, s, "jobs", 1, time.Minute)
	if len(other) != 1 {
		t.Fatalf("dequeued %d, want the other message", len(other))
	}
	if stale, err := s.AckMany(ctx, []queue.Receipt{old[0].Receipt, other[0].Receipt}); err != nil || !slices.Equal(stale, []queue.Receipt{old[0].Receipt}) {
		t.Fatalf("AckMany with the old receipt and another's current one: stale %v, %v; want only the old one", stale, err)
	}
	if st := stats(t, s, "jobs"); st.InFlight != 1 {
		t.Fatalf("stats %+v: want the redelivered message still in flight", st)
	}
	if stale, err := s.AckMany(ctx, []queue.Receipt{cur[0].Receipt}); err != nil || len(stale) != 0 {
		t.Fatalf("AckMany with the current receipt: stale %v, %v", stale, err)
	}
	if n, err := s.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("purge within retention removed %d, %v", n, err)
	}
	// The kept queue's message was kept (for its retention), not deleted.
	h.Advance(t, 2*tick+tick/2)
	if n, err := s.Purge(ctx); err != nil || n != 1 {
		t.Fatalf("purge after the retention removed %d, %v; want the kept queue's acked message", n, err)
	}
}

func testNextAvailable(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	declare(t, s, "jobs")
	if _, _, err := s.NextAvailable(ctx, "nope"); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Fatalf("unknown queue: %v", err)
	}
	next := func() (time.Time, bool) {
		t.Helper()
		at, ok, err := s.NextAvailable(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		return at, ok
	}
	if _, ok := next(); ok {
		t.Fatal("an empty queue has a next available time")
	}
	// Microseconds: what PostgreSQL keeps.
	base := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	enqueue(t, s, "jobs",
		queue.New(body(1), queue.NotBefore(base.Add(2*time.Hour)), queue.Priority(5)),
		queue.New(body(2), queue.NotBefore(base.Add(time.Hour)), queue.Priority(-3)),
		queue.New(body(3), queue.NotBefore(base), queue.Priority(0)),
		queue.New(body(4), queue.NotBefore(base.Add(3*time.Hour)), queue.Priority(0)))
	if at, ok := next(); !ok || !at.Equal(base) {
		t.Fatalf("next = %v, %v; want %v (the earliest, whatever its priority)", at, ok, base)
	}
	// A ready message: its available time is not after now.
	e := enqueue(t, s, "jobs", queue.New(body(5), queue.Priority(-9)))
	at, ok := next()
	ds := dequeue(t, s, "jobs", 10, tick)
	if !ok || len(ds) != 1 || at.After(ds[0].VisibleUntil.Add(-tick)) {
		t.Fatalf("next = %v, %v with a message ready; delivered %+v", at, ok, ds)
	}
	// In flight: due when its visibility runs out.
	if at, ok := next(); !ok || !at.Equal(ds[0].VisibleUntil) {
		t.Fatalf("next = %v, %v; want the in-flight message's visibility end %v", at, ok, ds[0].VisibleUntil)
	}
	// Settled messages do not count: acked, and dead.
	if err := s.Fail(ctx, ds[0].Receipt, errors.New("x")); err != nil {
		t.Fatal(err)
	}
	if at, ok := next(); !ok || !at.Equal(base) {
		t.Fatalf("after the in-flight one died: next = %v, %v; want %v", at, ok, base)
	}
	if err := s.Requeue(ctx, "jobs", e[0].ID); err != nil {
		t.Fatal(err)
	}
	r := dequeue(t, s, "jobs", 10, time.Minute)
	if len(r) != 1 {
		t.Fatalf("dequeued %d, want the requeued message", len(r))
	}
	if err := s.Ack(ctx, r[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if at, ok := next(); !ok || !at.Equal(base) {
		t.Fatalf("after ack: next = %v, %v; want %v", at, ok, base)
	}
}

// testNotifier: a store that is a queue.Notifier wakes a subscriber after
// an enqueue, a nack without delay, a release and a requeue.
func testNotifier(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	n, ok := s.(queue.Notifier)
	if !ok {
		t.Log("the store is not a queue.Notifier: nothing to check")
		return
	}
	declare(t, s, "jobs", queue.MaxAttempts(1))
	wake, cancel := n.Subscribe("jobs")
	defer cancel()
	woken := func(what string) {
		t.Helper()
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake after %s", what)
		}
	}
	drain := func() {
		select {
		case <-wake:
		default:
		}
	}
	drain()
	enqueue(t, s, "jobs", queue.New(body(1)))
	woken("an enqueue")

	ds := dequeue(t, s, "jobs", 1, time.Minute)
	drain()
	if err := s.Release(ctx, ds[0].Receipt); err != nil {
		t.Fatal(err)
	}
	woken("a release")

	ds = dequeue(t, s, "jobs", 1, time.Minute)
	if err := s.Fail(ctx, ds[0].Receipt, errors.New("x")); err != nil {
		t.Fatal(err)
	}
	drain()
	if err := s.Requeue(ctx, "jobs", ds[0].ID); err != nil {
		t.Fatal(err)
	}
	woken("a requeue")

	declare(t, s, "jobs", queue.MaxAttempts(3))
	ds = dequeue(t, s, "jobs", 1, time.Minute)
	drain()
	if _, err := s.Nack(ctx, ds[0].Receipt, 0, errors.New("x")); err != nil {
		t.Fatal(err)
	}
	woken("a nack without delay")
}

// testAckDequeue: acks go first, so a message whose visibility ran out but
// whose receipt is still current is acked, not delivered again by the same
// call; stale receipts are reported in order.
func testAckDequeue(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxOf(t)
	ad, ok := s.(queue.AckDequeuer)
	if !ok {
		return // optional: the Runner falls back to AckMany and Dequeue
	}
	declare(t, s, "jobs")
	e := enqueue(t, s, "jobs", queue.New(body(0)))
	first := dequeue(t, s, "jobs", 1, tick)
	if len(first) != 1 || first[0].ID != e[0].ID {
		t.Fatalf("dequeued %v, want %s", ids(first), e[0].ID)
	}
	rest := enqueue(t, s, "jobs", queue.New(body(1)), queue.New(body(2)))
	h.Advance(t, tick+tick/2) // first's visibility ran out: it is ready again
	stale, ds, err := ad.AckDequeue(ctx, []queue.Receipt{"not-a-receipt", first[0].Receipt}, "jobs", 5, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := []queue.Receipt{"not-a-receipt"}; !slices.Equal(stale, want) {
		t.Fatalf("stale = %v, want %v", stale, want)
	}
	if got := ids(ds); len(got) != 2 || got[0] != rest[0].ID || got[1] != rest[1].ID {
		t.Fatalf("dequeued %v, want %s and %s (the acked one not again)", got, rest[0].ID, rest[1].ID)
	}
	if st := stats(t, s, "jobs"); st.Ready != 0 || st.InFlight != 2 || st.Depth != 2 {
		t.Fatalf("stats %+v, want only the two in flight", st)
	}
	stale, more, err := ad.AckDequeue(ctx, []queue.Receipt{ds[0].Receipt, first[0].Receipt, ds[1].Receipt}, "jobs", 5, time.Minute)
	if err != nil || len(more) != 0 {
		t.Fatalf("second AckDequeue: %v, %v", ids(more), err)
	}
	if want := []queue.Receipt{first[0].Receipt}; !slices.Equal(stale, want) {
		t.Fatalf("stale = %v, want the already acked receipt", stale)
	}
	if st := stats(t, s, "jobs"); st != (queue.Stats{}) {
		t.Fatalf("stats %+v, want empty", st)
	}

	// A queue that keeps acked messages: AckDequeue marks them acked
	// (kept until Purge), refuses a second ack and never delivers them again.
	declare(t, s, "kept", queue.Retention(tick))
	enqueue(t, s, "kept", queue.New(body(3)))
	k := dequeue(t, s, "kept", 1, time.Minute)
	stale, more, err = ad.AckDequeue(ctx, []queue.Receipt{k[0].Receipt}, "kept", 5, time.Minute)
	if err != nil || len(stale) != 0 || len(more) != 0 {
		t.Fatalf("kept: AckDequeue stale %v, dequeued %v, %v; want the ack taken and nothing more", stale, ids(more), err)
	}
	if stale, _, err = ad.AckDequeue(ctx, []queue.Receipt{k[0].Receipt}, "kept", 5, time.Minute); err != nil || len(stale) != 1 {
		t.Fatalf("kept: second ack stale %v, %v; want the receipt stale", stale, err)
	}
	if st := stats(t, s, "kept"); st != (queue.Stats{}) {
		t.Fatalf("kept: stats %+v, want empty", st)
	}
	h.Advance(t, tick+tick/2)
	if n, err := s.Purge(ctx); err != nil || n != 1 {
		t.Fatalf("kept: purge removed %d, %v; want the acked message kept until then", n, err)
	}
}

package checkpointtest

import (
	"errors"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
)

// putDeadLetters records dls under lease l (its partition's), committed at
// the last one's position.
func putDeadLetters(t *testing.T, s checkpoint.Store, l checkpoint.Lease, dls ...checkpoint.DeadLetter) []checkpoint.DeadLetter {
	t.Helper()
	ctx := ctxT(t)
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range dls {
		if err := tx.PutDeadLetter(ctx, dl); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx, l, dls[len(dls)-1].Position); err != nil {
		t.Fatal(err)
	}
	out := make([]checkpoint.DeadLetter, len(dls))
	for i, dl := range dls {
		all, err := s.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: dl.Subscription, Partition: &dl.Partition, Key: dl.Key, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range all {
			if got.EventID == dl.EventID {
				out[i] = got
			}
		}
		if out[i].ID == 0 {
			t.Fatalf("dead letter %v not stored", dl.EventID)
		}
	}
	return out
}

func claimAll(t *testing.T, s checkpoint.Store, sub string) []checkpoint.Lease {
	t.Helper()
	ls, err := s.Claim(ctxT(t), sub, "w", checkpoint.MaxPartitions, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func parked(dl checkpoint.DeadLetter) checkpoint.DeadLetter {
	dl.Blocked, dl.Error, dl.Attempts = true, "blocked", 0
	return dl
}

// testDiscards: a discard is remembered by event id for the lineage, with
// who made it, beyond the dead letter and a reset; discarding a key's first
// dead letter releases the rest, another one does not.
func testDiscards(t *testing.T, s checkpoint.Store) {
	ctx := ctxT(t)
	for _, sub := range []struct {
		name  string
		parts int
	}{{"p#1", 2}, {"p#2", 2}, {"p#3", 4}, {"p", 2}, {"q", 2}} {
		register(t, s, sub.name, sub.parts)
	}
	ls := claimAll(t, s, "p#1")
	k1 := putDeadLetters(t, s, ls[0], deadLetter("p#1", 0, "k1", 40), parked(deadLetter("p#1", 0, "k1", 41)), parked(deadLetter("p#1", 0, "k1", 42)))
	k3 := putDeadLetters(t, s, ls[0], deadLetter("p#1", 0, "k3", 43), parked(deadLetter("p#1", 0, "k3", 44)))
	k2 := putDeadLetters(t, s, ls[1], deadLetter("p#1", 1, "k2", 45))

	if err := s.Discard(ctx, "p#1", k1[0].ID, "alice@host"); err != nil {
		t.Fatal(err)
	}
	// The first letter went: the rest of its key is released, in order.
	rest, _ := s.KeyDeadLetters(ctx, "p#1", 0, "k1")
	if len(rest) != 2 || rest[0].ID != k1[1].ID || rest[1].ID != k1[2].ID || !rest[0].RetryRequested || !rest[1].RetryRequested {
		t.Fatalf("key after discarding its first dead letter: %+v", rest)
	}
	if keys, _ := s.BlockedKeys(ctx, "p#1", 0); !keys["k1"].RetryRequested || keys["k3"].RetryRequested {
		t.Fatalf("blocked keys: %+v", keys)
	}
	// Not the first: only that one goes, nothing is released.
	if err := s.Discard(ctx, "p#1", k3[1].ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.KeyDeadLetters(ctx, "p#1", 0, "k3"); len(left) != 1 || left[0].ID != k3[0].ID || left[0].RetryRequested {
		t.Fatalf("discarding a parked dead letter released its key: %+v", left)
	}
	if err := s.Discard(ctx, "p#1", k1[0].ID, "alice"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("discard of a discarded dead letter: %v", err)
	}
	if err := s.Discard(ctx, "q", k2[0].ID, "alice"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("discard through another subscription: %v", err)
	}

	// Remembered for the lineage: the builds of p (p#2 has p#1's partition
	// count, so only partition 0 loads it; p#3 has another count, so every
	// partition does), not for q.
	id := k1[0].EventID
	for _, c := range []struct {
		sub  string
		part int
		want bool
	}{{"p#1", 0, true}, {"p#1", 1, false}, {"p#2", 0, true}, {"p#2", 1, false}, {"p", 0, true},
		{"p#3", 0, true}, {"p#3", 3, true}, {"q", 0, false}} {
		set, err := s.DiscardedIDs(ctx, c.sub, c.part)
		if err != nil {
			t.Fatal(err)
		}
		if set.Has(id) != c.want {
			t.Errorf("DiscardedIDs(%s, %d) has the discarded event: %v, want %v", c.sub, c.part, set.Has(id), c.want)
		}
		if got, err := s.IsDiscarded(ctx, c.sub, id); err != nil || got != (c.sub != "q") {
			t.Errorf("IsDiscarded(%s) = %v, %v", c.sub, got, err)
		}
	}
	if set, _ := s.DiscardedIDs(ctx, "p#1", 0); len(set) != 2 || !set.Has(k3[1].EventID) {
		t.Fatalf("partition 0's discarded ids: %v", set)
	}

	list, err := s.DiscardedEvents(ctx, checkpoint.DiscardedQuery{Subscription: "p#2"})
	if err != nil || len(list) != 2 {
		t.Fatalf("discarded events: %+v, %v", list, err)
	}
	d := list[0]
	if d.EventID != id || d.Lineage != "p" || d.Subscription != "p#1" || d.Partition != 0 || d.Partitions != 2 || d.Key != "k1" ||
		d.StreamID != "k1" || d.Type != "T" || d.Error != "boom" || d.DiscardedBy != "alice@host" || d.DiscardedAt.IsZero() || d.ID == 0 {
		t.Fatalf("remembered discard %+v", d)
	}
	if list[1].DiscardedBy != "bob" || list[1].ID <= d.ID {
		t.Fatalf("second discard %+v", list[1])
	}
	if page, _ := s.DiscardedEvents(ctx, checkpoint.DiscardedQuery{Subscription: "p", AfterID: d.ID, Limit: 1}); len(page) != 1 || page[0].ID != list[1].ID {
		t.Fatalf("paging %+v", page)
	}
	if other, _ := s.DiscardedEvents(ctx, checkpoint.DiscardedQuery{Subscription: "q"}); len(other) != 0 {
		t.Fatalf("q has discards %+v", other)
	}

	// Discards outlive a reset (a replay) of the subscription.
	if err := s.Reset(ctx, "p#1"); err != nil {
		t.Fatal(err)
	}
	if set, _ := s.DiscardedIDs(ctx, "p#1", 0); !set.Has(id) {
		t.Fatal("discard forgotten by a reset")
	}
	// Discarded again (after a replay dead-lettered it anew): one record,
	// the latest discard's.
	ls = claimAll(t, s, "p#1")
	again := deadLetter("p#1", 0, "k1", 40)
	again.EventID = id
	re := putDeadLetters(t, s, ls[0], again)
	if err := s.Discard(ctx, "p#1", re[0].ID, ""); err != nil {
		t.Fatal(err)
	}
	list, _ = s.DiscardedEvents(ctx, checkpoint.DiscardedQuery{Subscription: "p#1"})
	if len(list) != 2 || list[0].EventID != id || list[0].DiscardedBy != "unknown" {
		t.Fatalf("discarded twice: %+v", list)
	}
}

// testBulk: retry and discard by filter.
func testBulk(t *testing.T, s checkpoint.Store) {
	ctx := ctxT(t)
	register(t, s, "b", 2)
	register(t, s, "c", 1)
	ls := claimAll(t, s, "b")
	old := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	a1, a2 := deadLetter("b", 0, "a", 50), parked(deadLetter("b", 0, "a", 51))
	a1.Type, a1.Error, a1.FirstFailedAt = "Paid", "Card DECLINED by bank", old
	bb := deadLetter("b", 0, "bb", 52)
	bb.Type = "Paid"
	c1, c2 := deadLetter("b", 1, "c", 53), parked(deadLetter("b", 1, "c", 54))
	c1.Type = "Shipped"
	a := putDeadLetters(t, s, ls[0], a1, a2, bb)
	c := putDeadLetters(t, s, ls[1], c1, c2)
	otherLs := claimAll(t, s, "c")
	other := putDeadLetters(t, s, otherLs[0], deadLetter("c", 0, "a", 55))

	for _, bad := range []checkpoint.DeadLetterFilter{{}, {Subscription: "b", FailedAfter: old, FailedBefore: old}} {
		if _, err := s.RetryDeadLetters(ctx, bad); !errors.Is(err, checkpoint.ErrInvalidFilter) {
			t.Errorf("retry with filter %+v: %v", bad, err)
		}
		if _, err := s.DiscardDeadLetters(ctx, bad, "x"); !errors.Is(err, checkpoint.ErrInvalidFilter) {
			t.Errorf("discard with filter %+v: %v", bad, err)
		}
	}
	if _, err := s.RetryDeadLetters(ctx, checkpoint.DeadLetterFilter{Subscription: "nope"}); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("retry of an unknown subscription: %v", err)
	}
	if _, err := s.DiscardDeadLetters(ctx, checkpoint.DeadLetterFilter{Subscription: "nope"}, "x"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("discard of an unknown subscription: %v", err)
	}
	// Nothing matches: zero, no error.
	if res, err := s.RetryDeadLetters(ctx, checkpoint.DeadLetterFilter{Subscription: "b", Type: "Nope"}); err != nil || res != (checkpoint.BulkResult{}) {
		t.Fatalf("retry matching nothing: %+v, %v", res, err)
	}

	retried := func() map[int64]bool {
		out := map[int64]bool{}
		all, _ := s.DeadLetters(ctx, checkpoint.DeadLetterQuery{Limit: 100})
		for _, d := range all {
			out[d.ID] = d.RetryRequested
		}
		return out
	}
	// By error (ignoring case) and time: key a only, both its letters.
	res, err := s.RetryDeadLetters(ctx, checkpoint.DeadLetterFilter{Subscription: "b", ErrorContains: "declined", FailedBefore: old.Add(time.Minute)})
	if err != nil || res != (checkpoint.BulkResult{DeadLetters: 2, Keys: 1}) {
		t.Fatalf("retry by error: %+v, %v", res, err)
	}
	if r := retried(); !r[a[0].ID] || !r[a[1].ID] || r[a[2].ID] || r[c[0].ID] || r[other[0].ID] {
		t.Fatalf("retry requests %v", r)
	}
	// By type: keys a and bb (a's parked letter has type T but its key
	// goes as a whole).
	res, err = s.RetryDeadLetters(ctx, checkpoint.DeadLetterFilter{Subscription: "b", Type: "Paid"})
	if err != nil || res != (checkpoint.BulkResult{DeadLetters: 3, Keys: 2}) {
		t.Fatalf("retry by type: %+v, %v", res, err)
	}
	p1 := 1
	if res, _ := s.RetryDeadLetters(ctx, checkpoint.DeadLetterFilter{Subscription: "b", Partition: &p1, FailedAfter: old.Add(time.Minute)}); res != (checkpoint.BulkResult{DeadLetters: 2, Keys: 1}) {
		t.Fatalf("retry by partition and time: %+v", res)
	}
	if r := retried(); r[other[0].ID] {
		t.Fatal("another subscription's dead letter was marked")
	}

	// Discard by type: a's first letter (released: its parked one stays,
	// marked) and bb's only one.
	res, err = s.DiscardDeadLetters(ctx, checkpoint.DeadLetterFilter{Subscription: "b", Type: "Paid"}, "carol")
	if err != nil || res != (checkpoint.BulkResult{DeadLetters: 2, Keys: 1}) {
		t.Fatalf("discard by type: %+v, %v", res, err)
	}
	left, _ := s.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "b"})
	if len(left) != 3 || left[0].ID != a[1].ID || left[1].ID != c[0].ID || left[2].ID != c[1].ID {
		t.Fatalf("left after the discard: %+v", left)
	}
	set, _ := s.DiscardedIDs(ctx, "b", 0)
	if len(set) != 2 || !set.Has(a1.EventID) || !set.Has(bb.EventID) {
		t.Fatalf("remembered %v", set)
	}
	// A whole key at once: nothing left to release.
	res, err = s.DiscardDeadLetters(ctx, checkpoint.DeadLetterFilter{Subscription: "b", Key: "c"}, "carol")
	if err != nil || res != (checkpoint.BulkResult{DeadLetters: 2, Keys: 0}) {
		t.Fatalf("discard of a whole key: %+v, %v", res, err)
	}
	ds, _ := s.DiscardedEvents(ctx, checkpoint.DiscardedQuery{Subscription: "b"})
	if len(ds) != 4 || ds[3].DiscardedBy != "carol" || ds[3].Partition != 1 {
		t.Fatalf("discarded %+v", ds)
	}
	if n, _ := s.CountDeadLetters(ctx, "c"); n != 1 {
		t.Fatal("another subscription's dead letter was discarded")
	}
}

// Package checkpointtest is the conformance suite for checkpoint.Store
// implementations; the PostgreSQL and memory stores both run it.
package checkpointtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtext"
)

// NewStore returns a fresh, empty store.
type NewStore func(t *testing.T) checkpoint.Store

// Run runs the suite.
func Run(t *testing.T, newStore NewStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, checkpoint.Store)
	}{
		{"Register", testRegister},
		{"Membership", testMembership},
		{"ClaimRenewRelease", testLeases},
		{"FencedCommit", testFencing},
		{"DeadLetters", testDeadLetters},
		{"Reset", testReset},
		{"Move", testMove},
		{"Discards", testDiscards},
		{"BulkRetryDiscard", testBulk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func register(t *testing.T, s checkpoint.Store, name string, parts int) checkpoint.Subscription {
	t.Helper()
	sub, err := s.Register(ctxT(t), checkpoint.Subscription{Name: name, Partitions: parts, StartAt: eventlog.Position{TxID: 7, Seq: 3}})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func testRegister(t *testing.T, s checkpoint.Store) {
	ctx := ctxT(t)
	sub := register(t, s, "orders", 4)
	if sub.Name != "orders" || sub.Partitions != 4 || sub.StartAt != (eventlog.Position{TxID: 7, Seq: 3}) || sub.CreatedAt.IsZero() {
		t.Fatalf("registered %+v", sub)
	}
	// Registering again is idempotent and keeps the original start.
	again, err := s.Register(ctx, checkpoint.Subscription{Name: "orders", Partitions: 4, StartAt: eventlog.Position{TxID: 99}})
	if err != nil || again.StartAt != sub.StartAt {
		t.Fatalf("re-register: %+v, %v", again, err)
	}
	if _, err := s.Register(ctx, checkpoint.Subscription{Name: "orders", Partitions: 8}); !errors.Is(err, checkpoint.ErrPartitionsChanged) {
		t.Fatalf("changed partitions: err = %v", err)
	}
	for _, bad := range []string{"", "1abc", "has space", "x;drop"} {
		if _, err := s.Register(ctx, checkpoint.Subscription{Name: bad, Partitions: 1}); !errors.Is(err, checkpoint.ErrInvalidName) {
			t.Errorf("name %q: err = %v", bad, err)
		}
	}
	if _, err := s.Register(ctx, checkpoint.Subscription{Name: "zero", Partitions: 0}); err == nil {
		t.Error("0 partitions accepted")
	}
	ps, err := s.Partitions(ctx, "orders")
	if err != nil || len(ps) != 4 {
		t.Fatalf("partitions %v, %v", ps, err)
	}
	for i, p := range ps {
		if p.Partition != i || p.Checkpoint != sub.StartAt || p.Owner != "" || p.Epoch != 0 {
			t.Fatalf("partition %d = %+v", i, p)
		}
	}
	subs, err := s.Subscriptions(ctx)
	if err != nil || len(subs) != 1 || subs[0].Name != "orders" {
		t.Fatalf("subscriptions %v, %v", subs, err)
	}
	if _, err := s.Subscription(ctx, "nope"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("unknown subscription: err = %v", err)
	}
}

func testMembership(t *testing.T, s checkpoint.Store) {
	ctx := ctxT(t)
	register(t, s, "m", 2)
	n, err := s.Heartbeat(ctx, "m", checkpoint.Member{ID: "a", Host: "h", PID: 1}, time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("first heartbeat: %d, %v", n, err)
	}
	if n, _ = s.Heartbeat(ctx, "m", checkpoint.Member{ID: "b"}, 300*time.Millisecond); n != 2 {
		t.Fatalf("second member: live %d", n)
	}
	if n, _ = s.Heartbeat(ctx, "m", checkpoint.Member{ID: "a"}, time.Minute); n != 2 {
		t.Fatalf("renewed heartbeat: live %d", n)
	}
	time.Sleep(400 * time.Millisecond) // b's membership expires
	if n, _ = s.Heartbeat(ctx, "m", checkpoint.Member{ID: "a"}, time.Minute); n != 1 {
		t.Fatalf("after b expired: live %d", n)
	}
	ms, err := s.Members(ctx, "m")
	if err != nil || len(ms) != 1 || ms[0].ID != "a" {
		t.Fatalf("members %v, %v", ms, err)
	}
	if err := s.Leave(ctx, "m", "a"); err != nil {
		t.Fatal(err)
	}
	if ms, _ = s.Members(ctx, "m"); len(ms) != 0 {
		t.Fatalf("members after leave: %v", ms)
	}
}

func testLeases(t *testing.T, s checkpoint.Store) {
	ctx := ctxT(t)
	register(t, s, "l", 5)
	a, err := s.Claim(ctx, "l", "a", 3, time.Minute)
	if err != nil || len(a) != 3 {
		t.Fatalf("a claimed %v, %v", a, err)
	}
	for _, l := range a {
		if l.Epoch != 1 || l.Owner != "a" || l.Subscription != "l" || l.Checkpoint != (eventlog.Position{TxID: 7, Seq: 3}) {
			t.Fatalf("lease %+v", l)
		}
	}
	b, _ := s.Claim(ctx, "l", "b", 5, 300*time.Millisecond)
	if len(b) != 2 {
		t.Fatalf("b claimed %d of the 2 free partitions", len(b))
	}
	if c, _ := s.Claim(ctx, "l", "c", 5, time.Minute); len(c) != 0 {
		t.Fatalf("c claimed held partitions: %v", c)
	}
	// Renew keeps what is held.
	kept, err := s.Renew(ctx, a, time.Minute)
	if err != nil || len(kept) != 3 {
		t.Fatalf("renew %v, %v", kept, err)
	}
	// b's leases expire; c takes them over with a new epoch.
	time.Sleep(400 * time.Millisecond)
	c, _ := s.Claim(ctx, "l", "c", 5, time.Minute)
	if len(c) != 2 || c[0].Epoch != 2 || c[0].Partition != b[0].Partition {
		t.Fatalf("takeover %v (b had %v)", c, b)
	}
	if kept, _ := s.Renew(ctx, b, time.Minute); len(kept) != 0 {
		t.Fatalf("b renewed leases it lost: %v", kept)
	}
	// Release frees partitions for others; releasing lost leases does nothing.
	if err := s.Release(ctx, a[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, b); err != nil {
		t.Fatal(err)
	}
	ps, _ := s.Partitions(ctx, "l")
	owners := map[string]int{}
	for _, p := range ps {
		owners[p.Owner]++
		if p.Owner != "" && !p.Leased(time.Now()) {
			t.Errorf("partition %d owned but not leased: %+v", p.Partition, p)
		}
	}
	if owners[""] != 1 || owners["a"] != 2 || owners["c"] != 2 {
		t.Fatalf("owners %v", owners)
	}
	d, _ := s.Claim(ctx, "l", "d", 5, time.Minute)
	if len(d) != 1 || d[0].Partition != a[0].Partition || d[0].Epoch != 2 {
		t.Fatalf("claim after release: %v", d)
	}
}

func testFencing(t *testing.T, s checkpoint.Store) {
	ctx := ctxT(t)
	register(t, s, "f", 1)
	old, _ := s.Claim(ctx, "f", "old", 1, 200*time.Millisecond)
	if len(old) != 1 {
		t.Fatal("claim")
	}
	p1 := eventlog.Position{TxID: 10, Seq: 1}
	if err := s.Commit(ctx, old[0], p1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // old pauses past its lease
	nw, _ := s.Claim(ctx, "f", "new", 1, time.Minute)
	if len(nw) != 1 || nw[0].Checkpoint != p1 {
		t.Fatalf("takeover %v", nw)
	}
	// The old owner wakes and tries to commit: fenced, and nothing of its
	// unit of work lands.
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.PutDeadLetter(ctx, deadLetter("f", 0, "k", 11)); err != nil {
		t.Fatal(err)
	}
	err = tx.Commit(ctx, old[0], eventlog.Position{TxID: 11, Seq: 1})
	if !errors.Is(err, checkpoint.ErrFenced) {
		t.Fatalf("stale commit: err = %v", err)
	}
	if err := s.Commit(ctx, old[0], eventlog.Position{TxID: 12}); !errors.Is(err, checkpoint.ErrFenced) {
		t.Fatalf("stale direct commit: err = %v", err)
	}
	if n, _ := s.CountDeadLetters(ctx, "f"); n != 0 {
		t.Fatalf("fenced unit of work left %d dead letters", n)
	}
	ps, _ := s.Partitions(ctx, "f")
	if ps[0].Checkpoint != p1 || ps[0].Owner != "new" || ps[0].Epoch != 2 {
		t.Fatalf("partition after fenced commit: %+v", ps[0])
	}
	p2 := eventlog.Position{TxID: 13, Seq: 5}
	if err := s.Commit(ctx, nw[0], p2); err != nil {
		t.Fatal(err)
	}
	if ps, _ = s.Partitions(ctx, "f"); ps[0].Checkpoint != p2 || ps[0].CommittedAt.IsZero() {
		t.Fatalf("after commit: %+v", ps[0])
	}
}

func deadLetter(sub string, part int, key string, tx uint64) checkpoint.DeadLetter {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return checkpoint.DeadLetter{
		Subscription: sub, Partition: part, Key: key, EventID: uuid.New(),
		Position: eventlog.Position{TxID: tx, Seq: int64(tx)}, StreamID: key, Version: 1, Type: "T",
		Error: "boom", Attempts: 3, FirstFailedAt: now, LastFailedAt: now,
	}
}

func testDeadLetters(t *testing.T, s checkpoint.Store) {
	ctx := ctxT(t)
	register(t, s, "d", 2)
	ls, _ := s.Claim(ctx, "d", "w", 2, time.Minute)
	first, blocked, other := deadLetter("d", 0, "k1", 20), deadLetter("d", 0, "k1", 21), deadLetter("d", 1, "k2", 22)
	blocked.Blocked = true
	tx, _ := s.Begin(ctx)
	for _, dl := range []checkpoint.DeadLetter{first, blocked} {
		if err := tx.PutDeadLetter(ctx, dl); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx, ls[0], eventlog.Position{TxID: 21, Seq: 21}); err != nil {
		t.Fatal(err)
	}
	tx, _ = s.Begin(ctx)
	_ = tx.PutDeadLetter(ctx, other)
	if err := tx.Commit(ctx, ls[1], eventlog.Position{TxID: 22, Seq: 22}); err != nil {
		t.Fatal(err)
	}
	// A rolled-back unit of work adds nothing.
	tx, _ = s.Begin(ctx)
	_ = tx.PutDeadLetter(ctx, deadLetter("d", 1, "k3", 23))
	_ = tx.Rollback(ctx)

	all, err := s.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "d"})
	if err != nil || len(all) != 3 {
		t.Fatalf("list: %d, %v", len(all), err)
	}
	got := all[0]
	if got.EventID != first.EventID || got.Key != "k1" || got.Blocked || got.Attempts != 3 || got.Error != "boom" ||
		got.Position != first.Position || !got.FirstFailedAt.Equal(first.FirstFailedAt) || got.ID == 0 {
		t.Fatalf("stored %+v, want %+v", got, first)
	}
	if !all[1].Blocked || all[1].ID <= all[0].ID {
		t.Fatalf("second %+v", all[1])
	}
	p0 := 0
	if part0, _ := s.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "d", Partition: &p0}); len(part0) != 2 {
		t.Fatalf("partition 0 has %d", len(part0))
	}
	if page, _ := s.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "d", AfterID: all[0].ID, Limit: 1}); len(page) != 1 || page[0].ID != all[1].ID {
		t.Fatalf("paging %v", page)
	}
	if n, _ := s.CountDeadLetters(ctx, "d"); n != 3 {
		t.Fatalf("count %d", n)
	}
	keys, _ := s.BlockedKeys(ctx, "d", 0)
	if k, ok := keys["k1"]; !ok || len(keys) != 1 || !k.RetryAt.IsZero() || k.RetryRequested {
		t.Fatalf("blocked keys %v", keys)
	}
	one, err := s.DeadLetter(ctx, "d", all[2].ID)
	if err != nil || one.Key != "k2" {
		t.Fatalf("get: %+v, %v", one, err)
	}
	if _, err := s.DeadLetter(ctx, "d", 99999); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}

	// A retry request on the blocked one marks the whole key, in order.
	if err := s.RequestRetry(ctx, "d", all[1].ID); err != nil {
		t.Fatal(err)
	}
	keys, _ = s.BlockedKeys(ctx, "d", 0)
	if !keys["k1"].RetryRequested {
		t.Fatalf("retry request not seen on the key: %v", keys)
	}
	if k1, _ := s.BlockedKeys(ctx, "d", 1); k1["k2"].RetryRequested {
		t.Fatalf("other partition has requests %v", k1)
	}
	// Polls find requests without reading every dead letter, and re-read
	// only the keys they name.
	if reqs, err := s.RetryRequests(ctx, "d"); err != nil || len(reqs) != 1 || !slices.Equal(reqs[0], []string{"k1"}) {
		t.Fatalf("retry requests %v, %v", reqs, err)
	}
	if of, err := s.BlockedKeysOf(ctx, "d", 0, []string{"k1", "k2", "none"}); err != nil || len(of) != 1 ||
		!of["k1"].RetryRequested || !of["k1"].RetryAt.Equal(keys["k1"].RetryAt) {
		t.Fatalf("blocked keys of k1, k2 (other partition), none: %v, %v", of, err)
	}
	// An event parked after the request is part of the key's retry.
	late := deadLetter("d", 0, "k1", 25)
	late.Blocked = true
	tx, _ = s.Begin(ctx)
	_ = tx.PutDeadLetter(ctx, late)
	if err := tx.Commit(ctx, ls[0], eventlog.Position{TxID: 25, Seq: 25}); err != nil {
		t.Fatal(err)
	}
	req, _ := s.KeyDeadLetters(ctx, "d", 0, "k1")
	if len(req) != 3 || req[0].ID != all[0].ID || req[1].ID != all[1].ID || req[2].EventID != late.EventID || !req[0].RetryRequested {
		t.Fatalf("key dead letters %v", req)
	}
	if keys, _ = s.BlockedKeys(ctx, "d", 0); !keys["k1"].RetryRequested {
		t.Fatalf("parking cleared the key's retry request: %v", keys)
	}
	if err := s.Discard(ctx, "d", req[2].ID, "op"); err != nil {
		t.Fatal(err)
	}
	// Failing again updates the same row and clears the request.
	tx, _ = s.Begin(ctx)
	again := first
	again.Error, again.Attempts = "boom again", 5
	again.NextAttemptAt = time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	_ = tx.PutDeadLetter(ctx, again)
	if err := tx.RemoveDeadLetter(ctx, "d", all[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, ls[0], eventlog.Position{TxID: 21, Seq: 21}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.DeadLetter(ctx, "d", all[0].ID)
	if got.Attempts != 5 || got.Error != "boom again" || got.RetryRequested || !got.NextAttemptAt.Equal(again.NextAttemptAt) || !got.Retrying() {
		t.Fatalf("after failed retry %+v", got)
	}
	if keys, _ := s.BlockedKeys(ctx, "d", 0); !keys["k1"].RetryAt.Equal(again.NextAttemptAt) || keys["k1"].RetryRequested {
		t.Fatalf("blocked key after a retry was scheduled: %v", keys)
	}
	if reqs, err := s.RetryRequests(ctx, "d"); err != nil || len(reqs) != 0 {
		t.Fatalf("retry requests after the failed retry: %v, %v", reqs, err)
	}
	if _, err := s.DeadLetter(ctx, "d", all[1].ID); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatal("removed dead letter still there")
	}
	// With the failing event discarded, a parked one leads the key: it is due
	// at once.
	parked := deadLetter("d", 0, "k1", 26)
	parked.Blocked = true
	tx, _ = s.Begin(ctx)
	_ = tx.PutDeadLetter(ctx, parked)
	if err := tx.Commit(ctx, ls[0], eventlog.Position{TxID: 26, Seq: 26}); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(ctx, "d", all[0].ID, "op"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.BlockedKeys(ctx, "d", 0); keys["k1"].RetryAt.IsZero() || keys["k1"].RetryAt.After(time.Now()) {
		t.Fatalf("a parked event first is not due at once: %v", keys)
	}
	if reqs, _ := s.RetryRequests(ctx, "d"); !slices.Equal(reqs[0], []string{"k1"}) {
		t.Fatalf("the discard's release is not a retry request: %v", reqs)
	}
	dlParked, _ := s.KeyDeadLetters(ctx, "d", 0, "k1")
	if len(dlParked) != 1 {
		t.Fatalf("key dead letters %v", dlParked)
	}
	if err := s.Discard(ctx, "d", dlParked[0].ID, "op"); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(ctx, "d", all[0].ID, "op"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("double discard: %v", err)
	}
	if keys, _ := s.BlockedKeys(ctx, "d", 0); len(keys) != 0 {
		t.Fatalf("key still blocked: %v", keys)
	}
	if err := s.RequestRetry(ctx, "d", 424242); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("retry of unknown: %v", err)
	}

	// Error text PostgreSQL cannot store is sanitized, not refused: a dead
	// letter that cannot be recorded would stall its partition.
	bad := deadLetter("d", 1, "k\x00ey", 30)
	bad.Error, bad.StreamID = "nul\x00 and \xff\xfe bytes", "k-1"
	tx, _ = s.Begin(ctx)
	if err := tx.PutDeadLetter(ctx, bad); err != nil {
		_ = tx.Rollback(ctx)
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, ls[1], eventlog.Position{TxID: 30, Seq: 30}); err != nil {
		t.Fatalf("dead letter with unstorable text: %v", err)
	}
	stored, _ := s.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: "d", Key: pgtext.Sanitize(bad.Key)})
	if len(stored) != 1 || stored[0].Error != pgtext.Sanitize(bad.Error) {
		t.Fatalf("sanitized dead letter: %+v", stored)
	}
}

func testReset(t *testing.T, s checkpoint.Store) {
	ctx := ctxT(t)
	start := register(t, s, "r", 2).StartAt
	register(t, s, "other", 1)
	ls, _ := s.Claim(ctx, "r", "w", 2, time.Minute)
	others, _ := s.Claim(ctx, "other", "w", 1, time.Minute)
	far := eventlog.Position{TxID: 500, Seq: 9}
	tx, _ := s.Begin(ctx)
	_ = tx.PutDeadLetter(ctx, deadLetter("r", 0, "k", 400))
	if err := tx.Commit(ctx, ls[0], far); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, others[0], far); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	ps, _ := s.Partitions(ctx, "r")
	for _, p := range ps {
		if p.Checkpoint != start || p.Owner != "" || p.Epoch != 2 {
			t.Fatalf("after reset: %+v", p)
		}
	}
	// The old owner is fenced.
	if err := s.Commit(ctx, ls[1], far); !errors.Is(err, checkpoint.ErrFenced) {
		t.Fatalf("commit after reset: %v", err)
	}
	if n, _ := s.CountDeadLetters(ctx, "r"); n != 0 {
		t.Fatalf("%d dead letters after reset", n)
	}
	// Other subscriptions are untouched.
	if ps, _ := s.Partitions(ctx, "other"); ps[0].Checkpoint != far || ps[0].Owner != "w" {
		t.Fatalf("other subscription changed: %+v", ps[0])
	}
	if err := s.Reset(ctx, "nope"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("reset unknown: %v", err)
	}
}

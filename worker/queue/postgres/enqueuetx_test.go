package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/causewayhq/causeway/worker/queue"
)

// TestEnqueueTx: messages enqueued in the caller's transaction exist only
// if it commits, and are invisible to consumers until then.
func TestEnqueueTx(t *testing.T) {
	s, pool := newStore(t)
	ctx := testCtx(t)
	if _, err := s.Declare(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueTx(ctx, tx, "jobs", queue.New([]byte(`1`)), queue.New([]byte(`2`))); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stats(ctx, "jobs"); err != nil || st.Depth != 0 {
		t.Fatalf("after rollback: %+v, %v; want nothing enqueued", st, err)
	}

	tx, err = pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.EnqueueTx(ctx, tx, "jobs", queue.New([]byte(`3`)))
	if err != nil {
		t.Fatal(err)
	}
	// A refused enqueue leaves the caller's transaction usable.
	if _, err := s.EnqueueTx(ctx, tx, "nope", queue.New([]byte(`4`))); !errors.Is(err, queue.ErrUnknownQueue) {
		t.Fatalf("enqueue to an undeclared queue: %v", err)
	}
	if ds, err := s.Dequeue(ctx, "jobs", 10, time.Minute); err != nil || len(ds) != 0 {
		t.Fatalf("before commit a consumer got %v, %v", ds, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit after a refused enqueue: %v", err)
	}
	ds, err := s.Dequeue(ctx, "jobs", 10, time.Minute)
	if err != nil || len(ds) != 1 || ds[0].ID != e[0].ID {
		t.Fatalf("after commit: %v, %v; want %s", ds, err, e[0].ID)
	}
}

package testkit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/runtime/testkit"
)

func paidOf(t *testing.T, db *pgxpool.Pool, id string) float64 {
	t.Helper()
	var paid float64
	if err := db.QueryRow(t.Context(), `SELECT paid FROM trips WHERE id = $1`, id).Scan(&paid); err != nil {
		t.Fatalf("trip %s: %v", id, err)
	}
	return paid
}

func TestProjectionHandlesEvents(t *testing.T) {
	ctx := t.Context()
	db := testkit.Database(t)
	k := testkit.NewProjection(t, tripsProjection(nil), db)
	k.Publish(ctx, "trip-t1", Trip{ID: "t1"}, Paid{TripID: "t1", Amount: 10})
	k.Publish(ctx, "trip-t2", Trip{ID: "t2"})
	k.Publish(ctx, "trip-t1", Paid{TripID: "t1", Amount: 5})
	k.Publish(ctx, "other-x", testkit.Event("Unhandled", map[string]int{"n": 1}))
	k.RunUntilIdle(ctx)
	if p1, p2 := paidOf(t, db, "t1"), paidOf(t, db, "t2"); p1 != 15 || p2 != 0 {
		t.Fatalf("paid t1 %v, t2 %v; want 15, 0", p1, p2)
	}
	if dls := k.DeadLetters(); len(dls) != 0 {
		t.Fatalf("dead letters: %+v", dls)
	}
}

// A failing handler's writes roll back with its transaction; its retries
// come when the kit's clock reaches them, and the one that succeeds commits
// its writes once.
func TestProjectionRetryIsTransactionalAndTimedByTheClock(t *testing.T) {
	ctx := t.Context()
	db := testkit.Database(t)
	k := testkit.NewProjection(t, tripsProjection(func(ctx context.Context, tx pgx.Tx, attempt int) error {
		if attempt < 3 {
			return errors.New("downstream busy")
		}
		return nil
	}), db)
	k.Publish(ctx, "trip-t1", Trip{ID: "t1"}, Paid{TripID: "t1", Amount: 10})
	k.RunUntilIdle(ctx)
	dls := k.DeadLetters()
	if len(dls) != 1 || dls[0].Attempts != 1 || !dls[0].NextAttemptAt.Equal(testkit.Epoch.Add(time.Minute)) {
		t.Fatalf("dead letters %+v; want the TripPaid event after 1 attempt, due a minute after the epoch", dls)
	}
	if p := paidOf(t, db, "t1"); p != 0 {
		t.Fatalf("paid %v after a failed attempt, want 0 (rolled back)", p)
	}
	k.Advance(ctx, 59*time.Second)
	if dls := k.DeadLetters(); len(dls) != 1 || dls[0].Attempts != 1 {
		t.Fatalf("retried before its backoff ran out: %+v", dls)
	}
	k.Advance(ctx, time.Hour) // the second retry, two minutes after the first, succeeds
	if dls := k.DeadLetters(); len(dls) != 0 {
		t.Fatalf("dead letters after the retries: %+v", dls)
	}
	if p := paidOf(t, db, "t1"); p != 10 {
		t.Fatalf("paid %v, want 10 (the successful attempt's write, once)", p)
	}
}

func TestProjectionAdvanceToNext(t *testing.T) {
	ctx := t.Context()
	db := testkit.Database(t)
	k := testkit.NewProjection(t, tripsProjection(func(ctx context.Context, tx pgx.Tx, attempt int) error {
		if attempt < 2 {
			return errors.New("downstream busy")
		}
		return nil
	}), db)
	k.Publish(ctx, "trip-t1", Trip{ID: "t1"}, Paid{TripID: "t1", Amount: 10})
	k.RunUntilIdle(ctx)
	d, ok := k.AdvanceToNext(ctx)
	if !ok || d != time.Minute {
		t.Fatalf("advanced %v (%v), want the one-minute backoff", d, ok)
	}
	if p := paidOf(t, db, "t1"); p != 10 {
		t.Fatalf("paid %v, want 10", p)
	}
	if _, ok := k.AdvanceToNext(ctx); ok {
		t.Fatal("something is still scheduled")
	}
}

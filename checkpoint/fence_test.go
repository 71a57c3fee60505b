package checkpoint_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/pgtest"
)

// TestFenceAndDeleteTx: FenceTx returns the checkpoints, fences the lease
// holder (its commit fails) and frees the partitions for a new claim;
// DeleteTx removes the subscription with its partitions and dead letters.
func TestFenceAndDeleteTx(t *testing.T) {
	schema, pool := pgtest.NewMigratedSchema(t)
	s, err := checkpoint.NewPostgres(pool, schema)
	if err != nil {
		t.Fatal(err)
	}
	ctx := pgtest.Context(t, time.Minute)
	if _, err := s.Register(ctx, checkpoint.Subscription{Name: "p#1", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	leases, err := s.Claim(ctx, "p#1", "m", 2, time.Minute)
	if err != nil || len(leases) != 2 {
		t.Fatalf("claim: %v %v", leases, err)
	}
	at := eventlog.Position{TxID: 7, Seq: 3}
	if err := s.Commit(ctx, leases[1], at); err != nil {
		t.Fatal(err)
	}
	var got []eventlog.Position
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		got, err = s.FenceTx(ctx, tx, "p#1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || (got[0] != at && got[1] != at) {
		t.Fatalf("fenced checkpoints %v, want one at %v", got, at)
	}
	if err := s.Commit(ctx, leases[0], at); !errors.Is(err, checkpoint.ErrFenced) {
		t.Fatalf("commit after fence: %v", err)
	}
	again, err := s.Claim(ctx, "p#1", "other", 2, time.Minute)
	if err != nil || len(again) != 2 {
		t.Fatalf("claim after fence: %v %v", again, err)
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := s.BeginTx(tx).PutDeadLetter(ctx, checkpoint.DeadLetter{Subscription: "p#1", Key: "k", StreamID: "s", Type: "T",
			Error: "x", Attempts: 1, FirstFailedAt: time.Now(), LastFailedAt: time.Now()}); err != nil {
			return err
		}
		return s.DeleteTx(ctx, tx, "p#1")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscription(ctx, "p#1"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if ps, err := s.Partitions(ctx, "p#1"); err != nil || len(ps) != 0 {
		t.Fatalf("partitions after delete: %v %v", ps, err)
	}
	if n, err := s.CountDeadLetters(ctx, "p#1"); err != nil || n != 0 {
		t.Fatalf("dead letters after delete: %d %v", n, err)
	}
}

package postgres_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

func TestAppendTxCommitsAndRollsBackWithCaller(t *testing.T) {
	s, pool := newStore(t, postgres.Config{})
	ctx := testCtx(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE `+s.Schema()+`.orders (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	e, _ := eventlog.NewEvent("OrderPlaced", map[string]int{"id": 1})

	// Rolled back: neither the row nor the events exist.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+s.Schema()+`.orders VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendTx(ctx, tx, "order-1", eventlog.NoStream, e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendTx(ctx, tx, "customer-9", eventlog.Any, e); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Head(ctx); !h.IsZero() {
		t.Fatalf("head after rollback = %v", h)
	}

	// Committed: both streams and the row, atomically.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO `+s.Schema()+`.orders VALUES (1)`); err != nil {
			return err
		}
		if _, err := s.AppendTx(ctx, tx, "order-1", eventlog.NoStream, e); err != nil {
			return err
		}
		_, err := s.AppendTx(ctx, tx, "customer-9", eventlog.NoStream, e)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Hint()
	var all []eventlog.Event
	for ev, err := range s.ReadAll(ctx, eventlog.Start, eventlog.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ev)
	}
	if len(all) != 2 || all[0].StreamID != "order-1" || all[1].StreamID != "customer-9" || all[0].Position.TxID != all[1].Position.TxID {
		t.Fatalf("read %+v", all)
	}

	// A version conflict inside a transaction leaves the transaction usable.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := s.AppendTx(ctx, tx, "order-1", eventlog.NoStream, e)
		if !errors.Is(err, eventlog.ErrWrongExpectedVersion) {
			t.Errorf("err = %v, want version conflict", err)
		}
		_, err = s.AppendTx(ctx, tx, "order-1", eventlog.Exactly(1), e)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendTx(ctx, nil, "order-1", eventlog.Any, e); err == nil {
		t.Fatal("nil tx accepted")
	}
}

// TestOrderGuard: a transaction that obtained its id before a later writer of
// a stream committed must not append to that stream, or the stream's global
// order would differ from its version order. With the guard removed from
// append_events this test fails (the append succeeds and the log shows
// version 2 before version 1).
func TestOrderGuard(t *testing.T) {
	s, pool := newStore(t, postgres.Config{})
	ctx := testCtx(t)
	e, _ := eventlog.NewEvent("E", 1)

	early, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(ctx)
	// The early transaction writes first, so it holds the smaller id.
	if _, err := s.AppendTx(ctx, early, "other-1", eventlog.Any, e); err != nil {
		t.Fatal(err)
	}
	// A later transaction writes the stream and commits.
	if _, err := s.Append(ctx, "guarded-1", eventlog.NoStream, e); err != nil {
		t.Fatal(err)
	}
	_, err = s.AppendTx(ctx, early, "guarded-1", eventlog.Any, e)
	if err == nil {
		if err := early.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Whatever happened, the global order of the stream must equal its
	// version order.
	var versions []int64
	for ev, err := range s.ReadAll(ctx, eventlog.Start, eventlog.Filter{Categories: []string{"guarded"}}) {
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, ev.Version)
	}
	for i := 1; i < len(versions); i++ {
		if versions[i] <= versions[i-1] {
			t.Fatalf("global order of guarded-1 shows versions %v", versions)
		}
	}
	if !errors.Is(err, eventlog.ErrAppendOrderConflict) || !eventlog.IsRetryable(err) {
		t.Fatalf("append from the older transaction: err = %v, want ErrAppendOrderConflict", err)
	}

	// Retrying the whole transaction succeeds and keeps the order.
	early.Rollback(ctx)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := s.AppendTx(ctx, tx, "other-1", eventlog.Any, e); err != nil {
			return err
		}
		_, err := s.AppendTx(ctx, tx, "guarded-1", eventlog.Any, e)
		return err
	})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
}

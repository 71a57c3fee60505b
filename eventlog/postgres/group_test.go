package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

// groupFixture is a store with one append transaction in flight at most,
// and triggers that make an append of type "Slow" take 300 ms (holding the
// one slot, so the appends after it queue and go together) and one of
// type "Poison" fail in PostgreSQL (a failure Prepare cannot see).
func groupFixture(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	s, pool := newStore(t, postgres.Config{AppendInFlight: 1})
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, `
		CREATE FUNCTION `+s.Schema()+`.test_trap() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.type = 'Slow' THEN PERFORM pg_sleep(0.3); END IF;
			IF NEW.type = 'Poison' THEN RAISE EXCEPTION 'poisoned event %', NEW.event_id; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER test_trap BEFORE INSERT ON `+s.Schema()+`.events
			FOR EACH ROW EXECUTE FUNCTION `+s.Schema()+`.test_trap();`)
	if err != nil {
		t.Fatal(err)
	}
	return s, pool
}

func ev(t *testing.T, typ string) eventlog.EventData {
	t.Helper()
	e, err := eventlog.NewEvent(typ, map[string]string{"t": typ})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// behindSlow runs a Slow append and, once it holds the store's one append
// slot, the given appends concurrently; it returns their results in order.
func behindSlow(t *testing.T, s *postgres.Store, appends []func(ctx context.Context) (eventlog.AppendResult, error)) ([]eventlog.AppendResult, []error) {
	t.Helper()
	ctx := testCtx(t)
	slow := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "slow-1", eventlog.Any, ev(t, "Slow"))
		slow <- err
	}()
	waitSleeping(t, s)
	res, errs := make([]eventlog.AppendResult, len(appends)), make([]error, len(appends))
	var wg sync.WaitGroup
	for i, fn := range appends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = fn(ctx)
		}()
	}
	wg.Wait()
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	return res, errs
}

// TestGroupCommitBatchesQueuedAppends: appends queued behind a busy slot
// commit together (one transaction id), each with its own stream version.
func TestGroupCommitBatchesQueuedAppends(t *testing.T) {
	s, _ := groupFixture(t)
	var fns []func(ctx context.Context) (eventlog.AppendResult, error)
	for i := range 10 {
		fns = append(fns, func(ctx context.Context) (eventlog.AppendResult, error) {
			return s.Append(ctx, fmt.Sprintf("order-%d", i), eventlog.NoStream, ev(t, "OrderPlaced"))
		})
	}
	res, errs := behindSlow(t, s, fns)
	txs := map[uint64]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if res[i].NextExpectedVersion != 1 || len(res[i].Positions) != 1 {
			t.Fatalf("append %d: %+v", i, res[i])
		}
		txs[res[i].Positions[0].TxID] = true
	}
	if len(txs) != 1 {
		t.Fatalf("10 appends queued together committed in %d transactions, want 1", len(txs))
	}
}

// TestGroupCommitKeepsEachAppendsChecks: in one batch, appends to one
// stream with the same expected version: exactly one wins, the others get
// a version conflict; a retried append (same ids) reports Duplicate.
func TestGroupCommitKeepsEachAppendsChecks(t *testing.T) {
	s, _ := groupFixture(t)
	ctx := testCtx(t)
	first := ev(t, "OrderPlaced")
	first.ID = uuid.New()
	if _, err := s.Append(ctx, "order-9", eventlog.NoStream, first); err != nil {
		t.Fatal(err)
	}
	var fns []func(ctx context.Context) (eventlog.AppendResult, error)
	for range 5 {
		fns = append(fns, func(ctx context.Context) (eventlog.AppendResult, error) {
			return s.Append(ctx, "order-1", eventlog.NoStream, ev(t, "OrderPlaced"))
		})
	}
	fns = append(fns, func(ctx context.Context) (eventlog.AppendResult, error) {
		return s.Append(ctx, "order-9", eventlog.NoStream, first) // a retry of the first append
	})
	res, errs := behindSlow(t, s, fns)
	won := 0
	for i, err := range errs[:5] {
		var vc *eventlog.VersionConflictError
		switch {
		case err == nil:
			won++
		case errors.As(err, &vc) && vc.Actual == 1:
		default:
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of 5 appends with NoStream won, want 1", won)
	}
	if errs[5] != nil || !res[5].Duplicate || res[5].NextExpectedVersion != 1 {
		t.Fatalf("retried append: %+v, %v; want Duplicate at version 1", res[5], errs[5])
	}
	if v, err := streamVersion(ctx, s, "order-1"); err != nil || v != 1 {
		t.Fatalf("order-1 at version %d (%v), want 1", v, err)
	}
}

// TestGroupCommitOneFailureFailsNoOther: an append PostgreSQL refuses fails
// alone; the appends batched with it are written all the same.
func TestGroupCommitOneFailureFailsNoOther(t *testing.T) {
	s, _ := groupFixture(t)
	var fns []func(ctx context.Context) (eventlog.AppendResult, error)
	for i := range 8 {
		typ := "OrderPlaced"
		if i == 3 {
			typ = "Poison"
		}
		fns = append(fns, func(ctx context.Context) (eventlog.AppendResult, error) {
			return s.Append(ctx, fmt.Sprintf("order-%d", i), eventlog.NoStream, ev(t, typ))
		})
	}
	_, errs := behindSlow(t, s, fns)
	ctx := testCtx(t)
	for i, err := range errs {
		v, verr := streamVersion(ctx, s, fmt.Sprintf("order-%d", i))
		if verr != nil {
			t.Fatal(verr)
		}
		if i == 3 {
			if err == nil || v != 0 {
				t.Fatalf("poisoned append: err %v, stream at version %d; want an error and nothing written", err, v)
			}
			continue
		}
		if err != nil || v != 1 {
			t.Fatalf("append %d batched with a failing one: %v, stream at version %d", i, err, v)
		}
	}
}

// TestGroupCommitWithdrawsCancelledAppend: an append whose ctx ends while
// it waits in the queue is not written.
func TestGroupCommitWithdrawsCancelledAppend(t *testing.T) {
	s, _ := groupFixture(t)
	_, errs := behindSlow(t, s, []func(ctx context.Context) (eventlog.AppendResult, error){
		func(ctx context.Context) (eventlog.AppendResult, error) {
			ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			return s.Append(ctx, "order-1", eventlog.NoStream, ev(t, "OrderPlaced"))
		},
	})
	if !errors.Is(errs[0], context.DeadlineExceeded) {
		t.Fatalf("cancelled append: %v, want its ctx's error", errs[0])
	}
	ctx := testCtx(t)
	// The store's one slot takes appends in order: once a later one is
	// written, the cancelled one would have been too, had it been taken.
	if _, err := s.Append(ctx, "later-1", eventlog.NoStream, ev(t, "OrderPlaced")); err != nil {
		t.Fatal(err)
	}
	if v, err := streamVersion(ctx, s, "order-1"); err != nil || v != 0 {
		t.Fatalf("withdrawn append written: stream at version %d (%v)", v, err)
	}
}

func streamVersion(ctx context.Context, s *postgres.Store, stream string) (int64, error) {
	var v int64
	for e, err := range s.ReadStream(ctx, stream, eventlog.ReadStreamOptions{}) {
		if err != nil {
			return 0, err
		}
		v = e.Version
	}
	return v, nil
}

// waitSleeping waits until the Slow append's trigger is sleeping in
// PostgreSQL, i.e. it holds the store's one append slot.
func waitSleeping(t *testing.T, s *postgres.Store) {
	t.Helper()
	waitForBackend(t, s.Pool(), "the Slow append never started", `SELECT count(*) FROM pg_stat_activity
		WHERE wait_event = 'PgSleep' AND query LIKE '%' || $1 || '%.events%'`, s.Schema())
}

// waitForBackend polls count (a query of pg_stat_activity returning a
// count) until it is above zero; what says what never happened.
func waitForBackend(t *testing.T, pool *pgxpool.Pool, what, count string, args ...any) {
	t.Helper()
	ctx := testCtx(t)
	for {
		var n int
		if err := pool.QueryRow(ctx, count, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatal(what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGroupCommitOneAppendPerStreamPerBatch: appends to one stream queued
// together go in successive batches (the batch statement is set-based), in
// the order they were taken; appends to other streams still share them.
func TestGroupCommitOneAppendPerStreamPerBatch(t *testing.T) {
	s, _ := groupFixture(t)
	var fns []func(ctx context.Context) (eventlog.AppendResult, error)
	for i := range 10 {
		stream := "order-1"
		if i%2 == 1 {
			stream = fmt.Sprintf("other-%d", i)
		}
		fns = append(fns, func(ctx context.Context) (eventlog.AppendResult, error) {
			return s.Append(ctx, stream, eventlog.Any, ev(t, "OrderPlaced"))
		})
	}
	res, errs := behindSlow(t, s, fns)
	sameTx, allTx, versions := map[uint64]int{}, map[uint64]bool{}, map[int64]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		allTx[res[i].Positions[0].TxID] = true
		if i%2 == 0 {
			sameTx[res[i].Positions[0].TxID]++
			versions[res[i].NextExpectedVersion] = true
		}
	}
	if len(sameTx) != 5 || len(versions) != 5 {
		t.Fatalf("5 appends to one stream: %d transactions, versions %v; want 5 of each (one per batch)", len(sameTx), versions)
	}
	// The other streams' appends rode along (a batch that failed over a
	// repeated stream would have run all ten alone).
	if len(allTx) != 5 {
		t.Fatalf("10 appends committed in %d transactions, want 5", len(allTx))
	}
	ctx := testCtx(t)
	if v, err := streamVersion(ctx, s, "order-1"); err != nil || v != 5 {
		t.Fatalf("order-1 at version %d (%v), want 5", v, err)
	}
	// Positions follow versions: each batch committed after the one before.
	var last eventlog.Position
	for e, err := range s.ReadStream(ctx, "order-1", eventlog.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if !last.Before(e.Position) {
			t.Fatalf("order-1 version %d at %v, not after %v", e.Version, e.Position, last)
		}
		last = e.Position
	}
}

// TestAppendBatchStatementRefusesAStreamTwice: the set-based batch
// statement given two appends of one stream (which the group never sends)
// fails as a whole and writes nothing, so the group's fallback (each
// append alone) applies.
func TestAppendBatchStatementRefusesAStreamTwice(t *testing.T) {
	s, pool := groupFixture(t)
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, `SELECT * FROM `+s.Schema()+`.append_events_batch(
		ARRAY['order-1', 'order-1'], ARRAY[-1, -1]::bigint[], ARRAY[1, 1]::bigint[], ARRAY[false, false], ARRAY[1, 1],
		ARRAY[gen_random_uuid(), gen_random_uuid()], ARRAY['A', 'B'], ARRAY['{}', '{}']::jsonb[], ARRAY['{}', '{}']::jsonb[])`)
	if err == nil {
		t.Fatal("a batch naming one stream twice was accepted")
	}
	if v, err := streamVersion(ctx, s, "order-1"); err != nil || v != 0 {
		t.Fatalf("order-1 at version %d (%v), want nothing written", v, err)
	}
}

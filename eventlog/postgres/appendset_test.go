package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

func withID(t *testing.T, typ string, id uuid.UUID) eventlog.EventData {
	t.Helper()
	e := ev(t, typ)
	e.ID = id
	return e
}

// TestAppendBatchMixedResults: one batch of appends that succeed, repeat
// an earlier append, name ids stored partly or elsewhere, or expect the
// wrong version: each gets its own result, and the batch as a whole
// commits the ones that succeed, in one transaction.
func TestAppendBatchMixedResults(t *testing.T) {
	s, _ := newStore(t, postgres.Config{DisableGroupCommit: true})
	ctx := testCtx(t)
	must := func(res eventlog.AppendResult, err error) eventlog.AppendResult {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	must(s.Append(ctx, "order-b", eventlog.NoStream, ev(t, "OrderPlaced")))
	must(s.Append(ctx, "order-b2", eventlog.NoStream, ev(t, "OrderPlaced")))
	c1, c2, d1 := uuid.New(), uuid.New(), uuid.New()
	orig := must(s.Append(ctx, "order-c", eventlog.NoStream, withID(t, "A", c1), withID(t, "B", c2)))
	must(s.Append(ctx, "order-d", eventlog.NoStream, withID(t, "A", d1)))

	res, errs, err := s.AppendBatchForTest(ctx, []postgres.BatchAppend{
		0: {Stream: "order-a", Expected: eventlog.NoStream, Events: []eventlog.EventData{ev(t, "OrderPlaced")}},
		1: {Stream: "order-b", Expected: eventlog.Exactly(5), Events: []eventlog.EventData{ev(t, "OrderPlaced")}},
		2: {Stream: "order-c", Expected: eventlog.NoStream, Events: []eventlog.EventData{withID(t, "A", c1), withID(t, "B", c2)}},
		3: {Stream: "order-d", Expected: eventlog.Any, Events: []eventlog.EventData{withID(t, "A", d1), withID(t, "B", uuid.New())}},
		4: {Stream: "order-e", Expected: eventlog.NoStream, Events: []eventlog.EventData{withID(t, "A", c1), withID(t, "B", c2)}},
		5: {Stream: "order-f", Expected: eventlog.Any, Events: []eventlog.EventData{withID(t, "A", uuid.New()), withID(t, "B", uuid.New()), withID(t, "C", uuid.New())}},
		6: {Stream: "order-b2", Expected: eventlog.StreamExists, Events: []eventlog.EventData{ev(t, "OrderPlaced")}},
		7: {Stream: "order-h", Expected: eventlog.StreamExists, Events: []eventlog.EventData{ev(t, "OrderPlaced")}},
		8: {Stream: "order-g", Expected: eventlog.Exactly(3), Events: []eventlog.EventData{withID(t, "A", uuid.New())}},
	})
	if err != nil {
		t.Fatalf("the batch failed as a whole: %v", err)
	}
	ok := func(i int, version int64, events int) {
		t.Helper()
		if errs[i] != nil || res[i].Duplicate || res[i].NextExpectedVersion != version || len(res[i].Positions) != events {
			t.Fatalf("append %d: %+v, %v; want appended at version %d with %d positions", i, res[i], errs[i], version, events)
		}
	}
	conflict := func(i int, actual int64) {
		t.Helper()
		var vc *eventlog.VersionConflictError
		if !errors.As(errs[i], &vc) || vc.Actual != actual {
			t.Fatalf("append %d: %+v, %v; want a version conflict at %d", i, res[i], errs[i], actual)
		}
	}
	ok(0, 1, 1)
	conflict(1, 1)
	if errs[2] != nil || !res[2].Duplicate || res[2].NextExpectedVersion != 2 || fmt.Sprint(res[2].Positions) != fmt.Sprint(orig.Positions) {
		t.Fatalf("repeated append: %+v, %v; want Duplicate at version 2 with positions %v", res[2], errs[2], orig.Positions)
	}
	for _, i := range []int{3, 4} {
		if !errors.Is(errs[i], eventlog.ErrDuplicateEventID) {
			t.Fatalf("append %d (ids stored partly or elsewhere): %+v, %v; want ErrDuplicateEventID", i, res[i], errs[i])
		}
	}
	ok(5, 3, 3)
	ok(6, 2, 1)
	conflict(7, 0)
	conflict(8, 0)

	// The appended ones share the batch's transaction; the positions are
	// the stored ones, in version order.
	tx := res[0].Positions[0].TxID
	for _, i := range []int{5, 6} {
		for _, p := range res[i].Positions {
			if p.TxID != tx {
				t.Fatalf("append %d committed in transaction %d, the batch's other appends in %d", i, p.TxID, tx)
			}
		}
	}
	var got []eventlog.Position
	for e, err := range s.ReadStream(ctx, "order-f", eventlog.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Position)
	}
	if fmt.Sprint(got) != fmt.Sprint(res[5].Positions) {
		t.Fatalf("order-f stored at %v, result says %v", got, res[5].Positions)
	}
	for stream, want := range map[string]int64{"order-b": 1, "order-c": 2, "order-d": 1, "order-e": 0, "order-h": 0, "order-g": 0} {
		if v, err := streamVersion(ctx, s, stream); err != nil || v != want {
			t.Fatalf("%s at version %d (%v), want %d", stream, v, err, want)
		}
	}
}

// TestAppendBatchMixedResultsNoIDs: the same without caller-given ids,
// through both statements that serve such batches: the lean INSERT (every
// append short) and appendSet without the id lookup (one append longer
// than the lean statement takes).
func TestAppendBatchMixedResultsNoIDs(t *testing.T) {
	for _, long := range []bool{false, true} {
		t.Run(map[bool]string{false: "lean", true: "set"}[long], func(t *testing.T) {
			s, _ := newStore(t, postgres.Config{DisableGroupCommit: true})
			ctx := testCtx(t)
			for _, stream := range []string{"order-b", "order-c"} {
				if _, err := s.Append(ctx, stream, eventlog.NoStream, ev(t, "OrderPlaced")); err != nil {
					t.Fatal(err)
				}
			}
			one := func() []eventlog.EventData { return []eventlog.EventData{ev(t, "OrderPlaced")} }
			appends := []postgres.BatchAppend{
				{Stream: "order-a", Expected: eventlog.NoStream, Events: []eventlog.EventData{ev(t, "A"), ev(t, "B")}},
				{Stream: "order-b", Expected: eventlog.NoStream, Events: one()},
				{Stream: "order-c", Expected: eventlog.Exactly(1), Events: one()},
				{Stream: "order-d", Expected: eventlog.StreamExists, Events: one()},
				{Stream: "order-e", Expected: eventlog.Any, Events: one()},
			}
			want := []struct {
				version  int64 // NextExpectedVersion, or the conflict's Actual
				conflict bool
			}{{2, false}, {1, true}, {2, false}, {0, true}, {1, false}}
			if long {
				var events []eventlog.EventData
				for range 17 {
					events = append(events, ev(t, "Line"))
				}
				appends = append(appends, postgres.BatchAppend{Stream: "order-f", Expected: eventlog.Any, Events: events})
				want = append(want, struct {
					version  int64
					conflict bool
				}{17, false})
			}
			res, errs, err := s.AppendBatchForTest(ctx, appends)
			if err != nil {
				t.Fatalf("the batch failed as a whole: %v", err)
			}
			for i, w := range want {
				var vc *eventlog.VersionConflictError
				switch {
				case w.conflict && (!errors.As(errs[i], &vc) || vc.Actual != w.version):
					t.Fatalf("append %d: %+v, %v; want a version conflict at %d", i, res[i], errs[i], w.version)
				case !w.conflict && (errs[i] != nil || res[i].NextExpectedVersion != w.version ||
					len(res[i].Positions) != len(appends[i].Events) || res[i].Positions[0].TxID != res[0].Positions[0].TxID):
					t.Fatalf("append %d: %+v, %v; want version %d in the batch's transaction", i, res[i], errs[i], w.version)
				case !w.conflict && len(res[i].IDs) != len(appends[i].Events):
					t.Fatalf("append %d: %d ids for %d events", i, len(res[i].IDs), len(appends[i].Events))
				}
				for j := 1; !w.conflict && j < len(res[i].Positions); j++ {
					if !res[i].Positions[j-1].Before(res[i].Positions[j]) {
						t.Fatalf("append %d: positions %v out of order", i, res[i].Positions)
					}
				}
			}
			// What was reported is what is stored.
			for i, w := range want {
				if v, err := streamVersion(ctx, s, appends[i].Stream); err != nil || !w.conflict && v != w.version {
					t.Fatalf("%s at version %d (%v), want %d", appends[i].Stream, v, err, w.version)
				}
			}
		})
	}
}

// TestAppendBatchReadsAfterTheLocks: a batch that waits for a stream's
// lock reads the version its holder committed meanwhile, so it appends
// after it instead of failing as a whole (the lock is a statement of its
// own, before the one that reads: in READ COMMITTED a statement's snapshot
// is taken when it starts).
func TestAppendBatchReadsAfterTheLocks(t *testing.T) {
	s, pool := newStore(t, postgres.Config{DisableGroupCommit: true})
	ctx := testCtx(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var holder int32
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendTx(ctx, tx, "order-1", eventlog.NoStream, ev(t, "OrderPlaced")); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		res  []eventlog.AppendResult
		errs []error
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		res, errs, err := s.AppendBatchForTest(ctx, []postgres.BatchAppend{
			{Stream: "other-1", Expected: eventlog.NoStream, Events: []eventlog.EventData{ev(t, "OrderPlaced")}},
			{Stream: "order-1", Expected: eventlog.Any, Events: []eventlog.EventData{ev(t, "OrderPlaced")}},
		})
		done <- outcome{res, errs, err}
	}()
	// Commit only once the batch waits for the holder.
	waitForBackend(t, pool, "the batch never waited for the lock holder",
		`SELECT count(*) FROM pg_stat_activity WHERE $1::int = ANY (pg_blocking_pids(pid))`, holder)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil {
		t.Fatalf("the batch failed as a whole (it read the stream's version before the holder's commit?): %v", o.err)
	}
	for i, err := range o.errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if o.res[1].NextExpectedVersion != 2 {
		t.Fatalf("append after the lock holder: %+v, want version 2", o.res[1])
	}
	if v, err := streamVersion(ctx, s, "order-1"); err != nil || v != 2 {
		t.Fatalf("order-1 at version %d (%v), want 2", v, err)
	}
}

// TestAppendBatchRefusesAStreamTwice: the batch statements given two
// appends of one stream (which the group never sends) fail as a whole and
// write nothing, so the group's fallback (each append alone) applies.
func TestAppendBatchRefusesAStreamTwice(t *testing.T) {
	s, _ := newStore(t, postgres.Config{DisableGroupCommit: true})
	ctx := testCtx(t)
	_, _, err := s.AppendBatchForTest(ctx, []postgres.BatchAppend{
		{Stream: "order-1", Expected: eventlog.Any, Events: []eventlog.EventData{ev(t, "A")}},
		{Stream: "other-1", Expected: eventlog.Any, Events: []eventlog.EventData{ev(t, "A")}},
		{Stream: "order-1", Expected: eventlog.Any, Events: []eventlog.EventData{ev(t, "B")}},
	})
	if err == nil {
		t.Fatal("a batch naming one stream twice was accepted")
	}
	for _, stream := range []string{"order-1", "other-1"} {
		if v, err := streamVersion(ctx, s, stream); err != nil || v != 0 {
			t.Fatalf("%s at version %d (%v), want nothing written", stream, v, err)
		}
	}
}

// TestGroupCommitConcurrentAnyLosesNothing: many goroutines appending to
// one stream with Any, through concurrent batches, each get a version of
// their own and the stream ends with every one.
func TestGroupCommitConcurrentAnyLosesNothing(t *testing.T) {
	s, _ := newStore(t, postgres.Config{})
	ctx := testCtx(t)
	const workers, each = 16, 20
	var (
		mu       sync.Mutex
		versions = map[int64]bool{}
		wg       sync.WaitGroup
		errc     = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Every worker also writes a stream of its own, so the
				// batches carry several streams.
				if _, err := s.Append(ctx, fmt.Sprintf("own-%d", w), eventlog.Any, ev(t, "OrderPlaced")); err != nil {
					errc <- err
					return
				}
				res, err := s.Append(ctx, "hot-1", eventlog.Any, ev(t, "OrderPlaced"))
				if err != nil {
					errc <- fmt.Errorf("append %d of worker %d: %w", i, w, err)
					return
				}
				mu.Lock()
				versions[res.NextExpectedVersion] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if len(versions) != workers*each {
		t.Fatalf("%d appends reported %d distinct versions", workers*each, len(versions))
	}
	if v, err := streamVersion(ctx, s, "hot-1"); err != nil || v != workers*each {
		t.Fatalf("hot-1 at version %d (%v), want %d", v, err, workers*each)
	}
}

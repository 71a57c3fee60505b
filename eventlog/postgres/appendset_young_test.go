package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
)

// TestAppendBatchUsesIndexesOnAYoungTable: group-committed appends, from
// 16 goroutines into an events table that starts empty and is never
// analyzed, never scan the whole table, with caller-given ids (appendSet)
// or without (the lean statement). A batch statement's plan is made once
// per connection while the table is small; left to itself PostgreSQL
// planned appendSet's id lookup as a sequential scan and kept it, so each
// batch read every event stored so far. (The lean statement's version probe
// was seen planned as an index scan even without the batch's
// enable_seqscan = off; its subtest keeps it so.)
func TestAppendBatchUsesIndexesOnAYoungTable(t *testing.T) {
	t.Run("caller-ids", func(t *testing.T) { appendToAYoungTable(t, true) })
	t.Run("lean", func(t *testing.T) { appendToAYoungTable(t, false) })
}

func appendToAYoungTable(t *testing.T, callerIDs bool) {
	schema, shared := pgtest.NewMigratedSchema(t)
	ctx := testCtx(t)
	if _, err := shared.Exec(ctx, `ALTER TABLE `+schema+`.events SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	// A pool of its own, closed before the statistics are read: a backend
	// reports its table statistics when it exits.
	pool, err := pgxpool.NewWithConfig(ctx, shared.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := postgres.New(pool, postgres.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 16, 250
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				e := ev(t, "OrderPlaced")
				if callerIDs {
					e.ID = uuid.New()
				}
				if _, err := s.Append(ctx, "order-"+uuid.NewString(), eventlog.NoStream, e); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s.Close()
	pool.Close()
	for {
		var inserted, seqScans int
		err := shared.QueryRow(ctx, `SELECT n_tup_ins, seq_scan FROM pg_stat_user_tables
			WHERE schemaname = $1 AND relname = 'events'`, schema).Scan(&inserted, &seqScans)
		if err != nil {
			t.Fatal(err)
		}
		if inserted == goroutines*each {
			// A few scans are fine (the migrations'); one per batch is not.
			if seqScans > 10 {
				t.Fatalf("%d sequential scans of events for %d appends", seqScans, inserted)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("statistics show %d of %d inserts", inserted, goroutines*each)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package postgres_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/internal/pgembed"
	"github.com/causewayhq/causeway/internal/pgtest"
)

// TestCursorSurvivesCrashRecovery: transaction ids whose WAL never reached
// disk are handed out again after a crash. Rolled-back transactions take ids
// right before the postmaster is SIGKILLed, after readers have read past
// them; after crash recovery, new commits get those same ids. Readers that
// continue from their in-memory cursor, or from a cursor stored outside the
// cluster, must still see every event, in per-stream order.
func TestCursorSurvivesCrashRecovery(t *testing.T) {
	ctx := testCtx(t)
	// No NOTIFY: its transaction takes an id and its commit would flush the
	// WAL, making the rolled-back ids durable.
	cluster, pool, s := storeOnOwnCluster(t, postgres.Config{DisableNotify: true})
	holdBackWALWriter(t, pool)

	readers := []*crashReader{
		{name: "all"},
		{name: "filtered", filter: eventlog.Filter{Categories: []string{"acct"}}},
		{name: "stored", stored: filepath.Join(t.TempDir(), "cursor")},
	}
	var want []eventlog.Event
	appendSome := func(from, n int) eventlog.Position {
		var last eventlog.Position
		for i := from; i < from+n; i++ {
			stream := fmt.Sprintf("acct-%d", i%3)
			if i%4 == 3 {
				stream = "noise-1" // only the filtered reader skips these
			}
			res, err := s.Append(ctx, stream, eventlog.Any, eventlog.EventData{Type: "N", Data: []byte(fmt.Sprint(i))})
			if err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
			last = res.Positions[0]
			want = append(want, eventlog.Event{StreamID: stream, Position: last})
		}
		return last
	}
	waitVisible(t, s, appendSome(0, 12))
	for _, r := range readers {
		r.read(t, s)
	}

	// Ids taken and rolled back, their abort records still in WAL buffers:
	// the crash loses them, and recovery hands the ids out again.
	rollBackXIDs(t, pool, s, 200)
	h, err := s.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range readers {
		r.read(t, s) // nothing new: the cursor must not move past the ids
	}
	if err := cluster.Crash(); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	pool.Reset()

	first := len(want)
	waitVisible(t, s, appendSome(first, 12))
	if p := want[first].Position; p.TxID >= h.Xmin {
		t.Fatalf("scenario not reproduced: the first commit after the crash got id %d, not one below the pre-crash horizon %d", p.TxID, h.Xmin)
	}
	t.Logf("pre-crash horizon %d; first commit after the crash: %v", h.Xmin, want[first].Position)
	for _, r := range readers {
		r.read(t, s) // the stored reader starts over from its file
		r.check(t, want)
	}
}

// storeOnOwnCluster starts a cluster of the test's own (to crash it) and
// returns it with a pool on it and a store in its migrated default schema.
func storeOnOwnCluster(t *testing.T, cfg postgres.Config) (*pgembed.Cluster, *pgxpool.Pool, *postgres.Store) {
	t.Helper()
	cluster := pgtest.StartCluster(t)
	ctx := testCtx(t)
	pool, err := pgxpool.New(ctx, cluster.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := migrations.Apply(ctx, pool, migrations.DefaultSchema); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.New(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return cluster, pool, s
}

// crashReader follows the log in small batches, keeping its cursor in
// memory or, when stored is set, in a file outside the cluster.
type crashReader struct {
	name   string
	filter eventlog.Filter
	stored string
	cursor eventlog.Position
	seen   []eventlog.Event
}

func (r *crashReader) read(t *testing.T, s *postgres.Store) {
	t.Helper()
	ctx := testCtx(t)
	if r.stored != "" {
		if b, err := os.ReadFile(r.stored); err == nil {
			if err := r.cursor.UnmarshalText(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	for {
		b, err := s.ReadBatch(ctx, r.cursor, r.filter, 5)
		if err != nil {
			t.Fatalf("reader %s: %v", r.name, err)
		}
		r.seen = append(r.seen, b.Events...)
		r.cursor = b.Next
		if r.stored != "" {
			text, _ := r.cursor.MarshalText()
			if err := os.WriteFile(r.stored, text, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if b.CaughtUp {
			return
		}
	}
}

// check compares what the reader saw with the events it should have seen,
// and each stream's versions with 1, 2, 3….
func (r *crashReader) check(t *testing.T, all []eventlog.Event) {
	t.Helper()
	var want []eventlog.Event
	for i := range all {
		if r.filter.Matches(&all[i]) {
			want = append(want, all[i])
		}
	}
	versions := map[string]int64{}
	for _, e := range r.seen {
		if e.Version != versions[e.StreamID]+1 {
			t.Errorf("reader %s: stream %s: version %d after %d", r.name, e.StreamID, e.Version, versions[e.StreamID])
		}
		versions[e.StreamID] = e.Version
	}
	if len(r.seen) != len(want) {
		t.Errorf("reader %s saw %d of %d events (cursor %v)", r.name, len(r.seen), len(want), r.cursor)
		return
	}
	for i := range want {
		if r.seen[i].Position != want[i].Position {
			t.Errorf("reader %s: event %d at %v, want %v", r.name, i, r.seen[i].Position, want[i].Position)
		}
	}
}

// holdBackWALWriter makes the WAL writer wait 10 s between rounds, so WAL
// that no commit flushed (abort records) stays in shared memory, where a
// crash loses it, instead of being written within 200 ms.
func holdBackWALWriter(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := testCtx(t)
	if _, err := pool.Exec(ctx, `ALTER SYSTEM SET wal_writer_delay = '10s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v string
		if err := pool.QueryRow(ctx, `SHOW wal_writer_delay`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v == "10s" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("wal_writer_delay is %s after the reload", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rollBackXIDs runs n transactions that take an id and roll back: every
// other one appends an event first, the rest only take an id.
func rollBackXIDs(t *testing.T, pool *pgxpool.Pool, s *postgres.Store, n int) {
	t.Helper()
	ctx := testCtx(t)
	for i := 0; i < n; i++ {
		if i%2 == 0 && i < n-10 {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.AppendTx(ctx, tx, "acct-0", eventlog.Any, eventlog.EventData{Type: "RolledBack", Data: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := pool.Exec(ctx, `BEGIN; SELECT pg_current_xact_id(); ROLLBACK`); err != nil {
			t.Fatal(err)
		}
	}
}

// waitVisible waits until the log's head reaches p.
func waitVisible(t *testing.T, s *postgres.Store, p eventlog.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	for {
		h, err := s.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Before(p) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("position %v not visible (head %v)", p, h)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

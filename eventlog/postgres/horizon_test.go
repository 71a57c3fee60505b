package postgres_test

import (
	"testing"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

func TestHorizonHeldByOpenTransaction(t *testing.T) {
	s, pool := newStore(t, postgres.Config{})
	ctx := testCtx(t)
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	var pid int
	if _, err := holder.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // take an id
		t.Fatal(err)
	}
	if err := holder.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	e, _ := eventlog.NewEvent("E", 1)
	if _, err := s.Append(ctx, "h-1", eventlog.Any, e); err != nil {
		t.Fatal(err)
	}
	// The event committed after the holder took its id: invisible until the
	// holder finishes, because it could still commit an event before it.
	b, err := s.ReadBatch(ctx, eventlog.Start, eventlog.Filter{}, 10)
	if err != nil || len(b.Events) != 0 {
		t.Fatalf("read %d events while the horizon is held (err %v)", len(b.Events), err)
	}
	h, err := s.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Parallel tests may hold older transactions; the holder is ours or older.
	if !h.Held || h.XID == 0 || h.Xmin == 0 || h.Since.IsZero() {
		t.Fatalf("horizon %+v", h)
	}
	if h.PID == pid && h.State != "idle in transaction" {
		t.Fatalf("holder state %q", h.State)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	b, err = s.ReadBatch(ctx, eventlog.Start, eventlog.Filter{}, 10)
	for err == nil && len(b.Events) == 0 { // other tests' transactions may still hold it briefly
		b, err = s.ReadBatch(ctx, eventlog.Start, eventlog.Filter{}, 10)
	}
	if err != nil || len(b.Events) != 1 {
		t.Fatalf("after the holder ended: %d events, %v", len(b.Events), err)
	}
}

package postgres_test

import (
	"testing"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

func readIDs(t *testing.T, s *postgres.Store, after eventlog.Position) []eventlog.Event {
	t.Helper()
	var out []eventlog.Event
	for e, err := range s.ReadAll(testCtx(t), after, eventlog.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestRestamp simulates a restore into a cluster whose transaction counter is
// far behind the stored tx_ids: readers see nothing until the restamp, after
// which the log reads in the same order, stored cursors still point at the
// same events, and new appends come after the old ones.
func TestRestamp(t *testing.T) {
	s, pool := newStore(t, postgres.Config{})
	ctx := testCtx(t)
	for i := 0; i < 50; i++ {
		e, _ := eventlog.NewEvent("E", i)
		if _, err := s.Append(ctx, []string{"a-1", "b-2", "c-3"}[i%3], eventlog.Any, e); err != nil {
			t.Fatal(err)
		}
	}
	before := readIDs(t, s, eventlog.Start)
	if len(before) != 50 {
		t.Fatalf("read %d", len(before))
	}
	q := s.Schema()
	if _, err := pool.Exec(ctx, `CREATE TABLE `+q+`.cursors (name text PRIMARY KEY, tx_id xid8 NOT NULL, pos bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	// One cursor on an event, one between events (past a filtered one), one at Start.
	on, mid := before[19].Position, before[29].Position
	mid.Seq++ // between before[29] and before[30] when they share no tx
	for name, p := range map[string]eventlog.Position{"on": on, "mid": mid, "start": eventlog.Start} {
		if _, err := pool.Exec(ctx, `INSERT INTO `+q+`.cursors VALUES ($1, $2, $3)`, name, p.TxID, p.Seq); err != nil {
			t.Fatal(err)
		}
	}
	// The "restore": stored ids now lie far beyond the cluster's counter.
	for _, tbl := range []string{"events", "cursors"} {
		if _, err := pool.Exec(ctx, `UPDATE `+q+`.`+tbl+` SET tx_id = (tx_id::text::bigint + 1000000000)::text::xid8 WHERE tx_id <> '0'`); err != nil {
			t.Fatal(err)
		}
	}
	if got := readIDs(t, s, eventlog.Start); len(got) != 0 {
		t.Fatalf("precondition: %d events visible before the restamp", len(got))
	}
	res, err := s.Restamp(ctx, postgres.PositionColumns{Table: "cursors", TxID: "tx_id", Seq: "pos"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 50 || res.Positions != 2 {
		t.Fatalf("restamp result %+v", res)
	}
	after := readIDs(t, s, eventlog.Start)
	if len(after) != 50 {
		t.Fatalf("read %d after restamp", len(after))
	}
	for i := range after {
		if after[i].ID != before[i].ID {
			t.Fatalf("order changed at %d", i)
		}
	}
	cursor := func(name string) eventlog.Position {
		var p eventlog.Position
		if err := pool.QueryRow(ctx, `SELECT tx_id, pos FROM `+q+`.cursors WHERE name = $1`, name).Scan(&p.TxID, &p.Seq); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if rest := readIDs(t, s, cursor("on")); len(rest) != 30 || rest[0].ID != before[20].ID {
		t.Fatalf("cursor on event 19 now reads %d events", len(rest))
	}
	if rest := readIDs(t, s, cursor("mid")); len(rest) != 20 || rest[0].ID != before[30].ID {
		t.Fatalf("cursor after event 29 now reads %d events", len(rest))
	}
	if !cursor("start").IsZero() {
		t.Fatal("start cursor moved")
	}
	e, _ := eventlog.NewEvent("New", 1)
	if _, err := s.Append(ctx, "a-1", eventlog.Any, e); err != nil {
		t.Fatal(err)
	}
	final := readIDs(t, s, eventlog.Start)
	if len(final) != 51 || final[50].Type != "New" {
		t.Fatalf("new append not last: %d events", len(final))
	}
}

package postgres_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

// appendVaried appends events whose metadata takes every shape the reader
// decodes: none, plain ids, headers, and text the hand parser leaves to
// encoding/json (escapes, non-ASCII).
func appendVaried(t *testing.T, s *postgres.Store) {
	t.Helper()
	ctx := testCtx(t)
	metas := []eventlog.Metadata{
		{},
		{CorrelationID: "c-1", CausationID: "x"},
		{TraceParent: "00-abc-01", TraceState: "a=b", Headers: map[string]string{"k": "v", "empty": ""}},
		{CorrelationID: "café \"quoted\"\n", Headers: map[string]string{"ü": "ß"}},
	}
	for i := range 40 {
		e, err := eventlog.NewEvent(fmt.Sprintf("Type%d", i%3), map[string]any{"n": i, "s": "é"})
		if err != nil {
			t.Fatal(err)
		}
		e.Metadata = metas[i%len(metas)]
		if _, err := s.Append(ctx, fmt.Sprintf("cat%d-%d", i%2, i%7), eventlog.Any, e); err != nil {
			t.Fatal(err)
		}
	}
}

// scanned reads the events table back with plain rows.Scan: what the
// reader's own decoding must agree with.
func scanned(t *testing.T, pool *pgxpool.Pool, s *postgres.Store) []eventlog.Event {
	t.Helper()
	rows, err := pool.Query(testCtx(t), `SELECT tx_id, position, event_id, stream_id, version, type, data, metadata, recorded_at
		FROM `+s.Schema()+`.events ORDER BY tx_id, position`)
	if err != nil {
		t.Fatal(err)
	}
	var out []eventlog.Event
	for rows.Next() {
		var (
			e    eventlog.Event
			meta []byte
		)
		if err := rows.Scan(&e.Position.TxID, &e.Position.Seq, &e.ID, &e.StreamID, &e.Version, &e.Type, &e.Data, &meta, &e.RecordedAt); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(meta, &e.Metadata); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameEvents(t *testing.T, what string, got, want []eventlog.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.RecordedAt.Equal(w.RecordedAt) || g.RecordedAt.Location().String() != w.RecordedAt.Location().String() {
			t.Fatalf("%s: event %d recorded at %v, want %v", what, i, g.RecordedAt, w.RecordedAt)
		}
		g.RecordedAt, w.RecordedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("%s: event %d\n got %+v\nwant %+v", what, i, g, w)
		}
	}
}

// TestReadDecodesLikeScan: the reader decodes rows itself (decode.go);
// what it returns must be what rows.Scan gives, through the prepared
// statements' binary formats and, column by column, through a
// simple-protocol connection's text (the type map's fallback).
func TestReadDecodesLikeScan(t *testing.T) {
	s, pool := newStore(t, postgres.Config{})
	appendVaried(t, s)
	want := scanned(t, pool, s)

	cfg := pool.Config().Copy()
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	simplePool, err := pgxpool.NewWithConfig(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(simplePool.Close)
	simple, err := postgres.New(simplePool, postgres.Config{Schema: s.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(simple.Close)

	for name, st := range map[string]*postgres.Store{"prepared": s, "simple protocol": simple} {
		ctx := testCtx(t)
		b, err := st.ReadBatch(ctx, eventlog.Start, eventlog.Filter{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		sameEvents(t, name+" ReadBatch", b.Events, want)
		// A filtered read skips rows (and reports the last row below the horizon).
		b, err = st.ReadBatch(ctx, eventlog.Start, eventlog.Filter{Categories: []string{"cat1"}, Types: []string{"Type2"}}, 100)
		if err != nil {
			t.Fatal(err)
		}
		var wantF []eventlog.Event
		for _, e := range want {
			if e.Category() == "cat1" && e.Type == "Type2" {
				wantF = append(wantF, e)
			}
		}
		sameEvents(t, name+" filtered ReadBatch", b.Events, wantF)
		if b.Next != want[len(want)-1].Position || !b.CaughtUp {
			t.Fatalf("%s filtered: next %v caught up %v, want %v true", name, b.Next, b.CaughtUp, want[len(want)-1].Position)
		}
		var got []eventlog.Event
		for e, err := range st.ReadStream(ctx, "cat1-3", eventlog.ReadStreamOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e)
		}
		var wantS []eventlog.Event
		for _, e := range want {
			if e.StreamID == "cat1-3" {
				wantS = append(wantS, e)
			}
		}
		sameEvents(t, name+" ReadStream", got, wantS)
	}
}

// TestReadBatchAllocations bounds the reader's allocations per event: rows
// are decoded from their raw values into the events (two allocations each
// with metadata: the data, and the stream id with the metadata's text).
// Scanning each row with rows.Scan took 13.
func TestReadBatchAllocations(t *testing.T) {
	s, _ := newStore(t, postgres.Config{})
	ctx := testCtx(t)
	const n = 500
	for i := 0; i < n; i += 50 {
		var evs []eventlog.EventData
		for j := range 50 {
			e, err := eventlog.NewEvent("Deposited", map[string]int{"amount": i + j})
			if err != nil {
				t.Fatal(err)
			}
			e.Metadata = eventlog.Metadata{CorrelationID: "7a6b3c1d-2e4f-4a5b-8c9d-0e1f2a3b4c5d", CausationID: "5f0c6d3e-8a5b-4a4e-9d55-0a8d2b8c1f00"}
			evs = append(evs, e)
		}
		if _, err := s.Append(ctx, fmt.Sprintf("acct-%d", i), eventlog.NoStream, evs...); err != nil {
			t.Fatal(err)
		}
	}
	var readErr error
	allocs := testing.AllocsPerRun(5, func() {
		b, err := s.ReadBatch(ctx, eventlog.Start, eventlog.Filter{}, n)
		if err == nil && len(b.Events) != n {
			err = fmt.Errorf("read %d events, want %d", len(b.Events), n)
		}
		if err != nil {
			readErr = err
		}
	})
	if readErr != nil {
		t.Fatal(readErr)
	}
	t.Logf("%.0f allocations for %d events", allocs, n)
	if perEvent := allocs / n; perEvent > 2.5 {
		t.Fatalf("ReadBatch made %.0f allocations for %d events: %.2f per event, want at most 2.5", allocs, n, perEvent)
	}
}

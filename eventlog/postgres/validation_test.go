package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

// TestAppendTxRefusesBadTextUpFront: bad input is refused before any SQL
// runs, so the caller's transaction is not aborted by PostgreSQL (a raw
// SQLSTATE 22021 would) and can go on to commit.
func TestAppendTxRefusesBadTextUpFront(t *testing.T) {
	s, pool := newStore(t, postgres.Config{MaxPayload: 1000})
	ctx := testCtx(t)
	bad := []struct {
		name string
		e    eventlog.EventData
		want error
	}{
		{"invalid UTF-8 in data", eventlog.EventData{Type: "T", Data: []byte("{\"a\":\"\xff\"}")}, eventlog.ErrInvalidData},
		{"invalid UTF-8 in metadata", eventlog.EventData{Type: "T", Data: []byte(`{}`), Metadata: eventlog.Metadata{CausationID: "\xc3"}}, eventlog.ErrInvalidData},
		{"oversized and malformed", eventlog.EventData{Type: "T", Data: []byte("{" + strings.Repeat("\xff", 5000))}, eventlog.ErrPayloadTooLarge},
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, b := range bad {
			_, err := s.AppendTx(ctx, tx, "tx-1", eventlog.Any, b.e)
			if !errors.Is(err, eventlog.ErrInvalidEvent) || !errors.Is(err, b.want) {
				t.Errorf("%s: err = %v, want ErrInvalidEvent and %v", b.name, err, b.want)
			}
		}
		_, err := s.AppendTx(ctx, tx, "tx-1", eventlog.NoStream, eventlog.EventData{Type: "T", Data: []byte(`{"ok":true}`)})
		return err
	})
	if err != nil {
		t.Fatalf("the transaction did not survive the refusals: %v", err)
	}
	if n := countStream(t, s, "tx-1"); n != 1 {
		t.Fatalf("stream has %d events, want the 1 valid one", n)
	}
}

// TestImportRefusesBadTextAndSize: Import validates like Append, size first.
func TestImportRefusesBadTextAndSize(t *testing.T) {
	s, _ := newStore(t, postgres.Config{MaxPayload: 1000})
	ctx := testCtx(t)
	cases := []struct {
		name string
		data []byte
		meta eventlog.Metadata
		want error
	}{
		{"invalid UTF-8 in data", []byte("[\"\xe2\x82\"]"), eventlog.Metadata{}, eventlog.ErrInvalidData},
		{"invalid UTF-8 in metadata", []byte(`{}`), eventlog.Metadata{Headers: map[string]string{"k": "\xff"}}, eventlog.ErrInvalidData},
		{"oversized and malformed", []byte(`{"a":` + strings.Repeat("9", 5000)), eventlog.Metadata{}, eventlog.ErrPayloadTooLarge},
		{"oversized metadata", []byte(`{}`), eventlog.Metadata{TraceState: strings.Repeat("x", 5000)}, eventlog.ErrPayloadTooLarge},
	}
	for i, c := range cases {
		stream := fmt.Sprintf("imp-%d", i)
		events := func(yield func(postgres.ImportEvent) bool) {
			good := eventlog.EventData{Type: "X", Data: []byte(`{}`)}
			if !yield(postgres.ImportEvent{StreamID: stream, EventData: good}) {
				return
			}
			yield(postgres.ImportEvent{StreamID: stream, EventData: eventlog.EventData{Type: "X", Data: c.data, Metadata: c.meta}})
		}
		_, err := s.Import(ctx, events)
		var ve *eventlog.ValidationError
		if !errors.Is(err, c.want) || !errors.As(err, &ve) || ve.Index != 1 {
			t.Errorf("%s: err = %v, want %v at index 1", c.name, err, c.want)
		}
		if n := countStream(t, s, stream); n != 0 {
			t.Errorf("%s: a failed import wrote %d events", c.name, n)
		}
	}
}

func countStream(t *testing.T, s *postgres.Store, stream string) int {
	t.Helper()
	n := 0
	for _, err := range s.ReadStream(testCtx(t), stream, eventlog.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

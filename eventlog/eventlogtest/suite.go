// Package eventlogtest is the conformance suite every eventlog.Store passes.
// The PostgreSQL and memory stores run it from their own tests:
//
//	eventlogtest.Run(t, func(t *testing.T, o eventlogtest.Options) eventlog.Store { ... })
//
// Each test asks for a fresh, empty store.
package eventlogtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/eventlog"
)

// Options are passed to the store factory.
type Options struct {
	MaxPayload int // 0 = the store's default
}

// NewStore returns a fresh, empty store; it registers its own cleanup.
type NewStore func(t *testing.T, opts Options) eventlog.Store

// Tailed is implemented by stores that own a process tailer.
type Tailed interface {
	Tailer() *eventlog.Tailer
}

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewStore)
	}{
		{"AppendAndReadStream", testAppendAndReadStream},
		{"ExpectedVersions", testExpectedVersions},
		{"IdempotentIDs", testIdempotentIDs},
		{"Validation", testValidation},
		{"ReadStreamDirectionsAndPaging", testReadStreamPaging},
		{"ReadBatchOrderAndFilters", testReadBatchFilters},
		{"CursorStopsAtLastRow", testCursorStopsAtLastRow},
		{"ReadAll", testReadAll},
		{"HeadAndCount", testHeadAndCount},
		{"PositionAt", testPositionAt},
		{"ConcurrentExpectedVersion", testConcurrentExpectedVersion},
		{"Tailer", testTailer},
		{"Fold", testFold},
		{"UpcastStore", testUpcastStore},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ev(t *testing.T, typ string, v any) eventlog.EventData {
	t.Helper()
	e, err := eventlog.NewEvent(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustAppend(t *testing.T, s eventlog.Store, stream string, exp eventlog.ExpectedVersion, events ...eventlog.EventData) eventlog.AppendResult {
	t.Helper()
	res, err := s.Append(ctxT(t), stream, exp, events...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

// waitVisible waits until the log's head reaches p. An event is visible to
// global readers only once every transaction that started before it has
// finished — with other tests sharing the database, that can take a moment.
func waitVisible(t *testing.T, s eventlog.Store, p eventlog.Position) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := s.Head(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if !h.Before(p) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("position %v not visible within 30 s (head %v)", p, h)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func lastPos(r eventlog.AppendResult) eventlog.Position { return r.Positions[len(r.Positions)-1] }

func readStream(t *testing.T, s eventlog.Store, stream string, opts eventlog.ReadStreamOptions) []eventlog.Event {
	t.Helper()
	var out []eventlog.Event
	for e, err := range s.ReadStream(ctxT(t), stream, opts) {
		if err != nil {
			t.Fatalf("read stream %s: %v", stream, err)
		}
		out = append(out, e)
	}
	return out
}

func readAll(t *testing.T, s eventlog.Store, after eventlog.Position, f eventlog.Filter) []eventlog.Event {
	t.Helper()
	var out []eventlog.Event
	for e, err := range s.ReadAll(ctxT(t), after, f) {
		if err != nil {
			t.Fatalf("read all: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// jsonEqual compares JSON semantically (PostgreSQL's jsonb normalises).
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("bad JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("bad JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

type order struct {
	ID    int     `json:"id"`
	Total float64 `json:"total"`
	Note  string  `json:"note"`
}

func testAppendAndReadStream(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	meta := eventlog.Metadata{
		CorrelationID: "corr-1", CausationID: "cause-1",
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		Headers:     map[string]string{"tenant": "acme"},
	}
	e1 := ev(t, "OrderPlaced", order{ID: 1, Total: 9.5, Note: "héllo \"quoted\" ✓"})
	e1.Metadata = meta
	e2 := ev(t, "OrderPaid", map[string]any{"id": 1})
	res := mustAppend(t, s, "order-1", eventlog.NoStream, e1, e2)
	if res.NextExpectedVersion != 2 || len(res.Positions) != 2 || len(res.IDs) != 2 || res.Duplicate {
		t.Fatalf("result = %+v", res)
	}
	if !res.Positions[0].Before(res.Positions[1]) {
		t.Fatalf("positions not increasing: %v", res.Positions)
	}
	got := readStream(t, s, "order-1", eventlog.ReadStreamOptions{})
	if len(got) != 2 {
		t.Fatalf("read %d events, want 2", len(got))
	}
	for i, e := range got {
		if e.Version != int64(i+1) || e.StreamID != "order-1" || e.Category() != "order" {
			t.Errorf("event %d: version %d stream %q", i, e.Version, e.StreamID)
		}
		if e.ID != res.IDs[i] || e.Position != res.Positions[i] {
			t.Errorf("event %d: id/position %v %v, append said %v %v", i, e.ID, e.Position, res.IDs[i], res.Positions[i])
		}
		if e.RecordedAt.IsZero() || time.Since(e.RecordedAt) > time.Minute {
			t.Errorf("event %d: recorded at %v", i, e.RecordedAt)
		}
	}
	if got[0].Type != "OrderPlaced" || !jsonEqual(t, got[0].Data, e1.Data) {
		t.Errorf("event 0 = %s %s", got[0].Type, got[0].Data)
	}
	if !reflect.DeepEqual(got[0].Metadata, meta) {
		t.Errorf("metadata = %+v, want %+v", got[0].Metadata, meta)
	}
	if !reflect.DeepEqual(got[1].Metadata, eventlog.Metadata{}) {
		t.Errorf("empty metadata = %+v", got[1].Metadata)
	}
	// A stream that does not exist reads empty, without error.
	if n := len(readStream(t, s, "order-404", eventlog.ReadStreamOptions{})); n != 0 {
		t.Errorf("missing stream read %d events", n)
	}
	if eventlog.Category("plain") != "plain" || eventlog.Category("a-b-c") != "a" {
		t.Error("Category")
	}
}

func testExpectedVersions(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	ctx := ctxT(t)
	e := func() eventlog.EventData { return ev(t, "Tick", map[string]int{"n": 1}) }

	conflict := func(err error, actual int64) {
		t.Helper()
		if !errors.Is(err, eventlog.ErrWrongExpectedVersion) {
			t.Fatalf("err = %v, want ErrWrongExpectedVersion", err)
		}
		var vc *eventlog.VersionConflictError
		if !errors.As(err, &vc) || vc.Actual != actual || vc.StreamID != "tick-1" {
			t.Fatalf("err = %#v, want actual %d", err, actual)
		}
	}
	_, err := s.Append(ctx, "tick-1", eventlog.StreamExists, e())
	conflict(err, 0)
	_, err = s.Append(ctx, "tick-1", eventlog.Exactly(1), e())
	conflict(err, 0)
	mustAppend(t, s, "tick-1", eventlog.NoStream, e())
	_, err = s.Append(ctx, "tick-1", eventlog.NoStream, e())
	conflict(err, 1)
	mustAppend(t, s, "tick-1", eventlog.StreamExists, e())
	mustAppend(t, s, "tick-1", eventlog.Exactly(2), e(), e())
	_, err = s.Append(ctx, "tick-1", eventlog.Exactly(3), e())
	conflict(err, 4)
	res := mustAppend(t, s, "tick-1", eventlog.Any, e())
	if res.NextExpectedVersion != 5 {
		t.Fatalf("next = %d", res.NextExpectedVersion)
	}
	if _, err := s.Append(ctx, "tick-1", eventlog.ExpectedVersion(-7), e()); err == nil {
		t.Fatal("invalid expected version accepted")
	}
	if n := len(readStream(t, s, "tick-1", eventlog.ReadStreamOptions{})); n != 5 {
		t.Fatalf("stream has %d events, want 5 (conflicts must write nothing)", n)
	}
}

func testIdempotentIDs(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	ctx := ctxT(t)
	a, b := ev(t, "A", 1), ev(t, "B", 2)
	a.ID, b.ID = uuid.New(), uuid.New()
	first := mustAppend(t, s, "idem-1", eventlog.NoStream, a, b)
	// The retry of a succeeded append: same ids, same stream → stored once.
	again, err := s.Append(ctx, "idem-1", eventlog.NoStream, a, b)
	if err != nil {
		t.Fatalf("retried append: %v", err)
	}
	if !again.Duplicate || again.NextExpectedVersion != 2 || !reflect.DeepEqual(again.Positions, first.Positions) {
		t.Fatalf("retry result %+v, first %+v", again, first)
	}
	if n := len(readStream(t, s, "idem-1", eventlog.ReadStreamOptions{})); n != 2 {
		t.Fatalf("stream has %d events after retry, want 2", n)
	}
	// The same id in another stream, or a batch only partly stored, is refused.
	if _, err := s.Append(ctx, "idem-2", eventlog.Any, a); !errors.Is(err, eventlog.ErrDuplicateEventID) {
		t.Fatalf("id reused in another stream: err = %v", err)
	}
	c := ev(t, "C", 3)
	c.ID = uuid.New()
	if _, err := s.Append(ctx, "idem-1", eventlog.Any, a, c); !errors.Is(err, eventlog.ErrDuplicateEventID) {
		t.Fatalf("partly stored batch: err = %v", err)
	}
	// One id twice in one append is bad input.
	if _, err := s.Append(ctx, "idem-3", eventlog.Any, c, c); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Fatalf("same id twice in one append: err = %v", err)
	}
	waitVisible(t, s, lastPos(first))
	if all := readAll(t, s, eventlog.Start, eventlog.Filter{}); len(all) != 2 {
		t.Fatalf("log has %d events, want 2", len(all))
	}
}

func testValidation(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{MaxPayload: 1000})
	ctx := ctxT(t)
	good := ev(t, "Good", map[string]string{"k": "v"})
	withData := func(d string) eventlog.EventData { return eventlog.EventData{Type: "T", Data: json.RawMessage(d)} }
	withType := func(typ string) eventlog.EventData { return eventlog.EventData{Type: typ, Data: json.RawMessage(`{}`)} }
	withMeta := func(m eventlog.Metadata) eventlog.EventData {
		return eventlog.EventData{Type: "T", Data: json.RawMessage(`{}`), Metadata: m}
	}
	cases := []struct {
		name   string
		stream string
		events []eventlog.EventData
		want   error
	}{
		{"empty stream id", "", []eventlog.EventData{good}, eventlog.ErrInvalidStreamID},
		{"space in stream id", "order 1", []eventlog.EventData{good}, eventlog.ErrInvalidStreamID},
		{"control char", "order-\x01", []eventlog.EventData{good}, eventlog.ErrInvalidStreamID},
		{"empty category", "-1", []eventlog.EventData{good}, eventlog.ErrInvalidStreamID},
		{"invalid utf8", "order-\xff", []eventlog.EventData{good}, eventlog.ErrInvalidStreamID},
		{"too long", "x-" + strings.Repeat("a", 300), []eventlog.EventData{good}, eventlog.ErrInvalidStreamID},
		{"no events", "order-1", nil, eventlog.ErrNoEvents},
		{"empty type", "order-1", []eventlog.EventData{withType("")}, eventlog.ErrInvalidEventType},
		{"type with space", "order-1", []eventlog.EventData{withType("Order Placed")}, eventlog.ErrInvalidEventType},
		{"type starting with digit", "order-1", []eventlog.EventData{withType("1Order")}, eventlog.ErrInvalidEventType},
		{"malformed JSON", "order-1", []eventlog.EventData{withData(`{"a":`)}, eventlog.ErrInvalidData},
		{"empty data", "order-1", []eventlog.EventData{withData(``)}, eventlog.ErrInvalidData},
		{"NUL escape", "order-1", []eventlog.EventData{withData(`{"a":"x\u0000y"}`)}, eventlog.ErrInvalidData},
		{"lone surrogate", "order-1", []eventlog.EventData{withData(`"\ud800"`)}, eventlog.ErrInvalidData},
		{"NUL in metadata", "order-1", []eventlog.EventData{{Type: "T", Data: json.RawMessage(`{}`), Metadata: eventlog.Metadata{CorrelationID: "a\x00b"}}}, eventlog.ErrInvalidData},
		{"invalid UTF-8 in data", "order-1", []eventlog.EventData{withData("{\"a\":\"x\xffy\"}")}, eventlog.ErrInvalidData},
		{"invalid UTF-8 in a data key", "order-1", []eventlog.EventData{withData("{\"\xc3\":1}")}, eventlog.ErrInvalidData},
		{"invalid UTF-8 in metadata", "order-1", []eventlog.EventData{withMeta(eventlog.Metadata{CorrelationID: "a\xffb"})}, eventlog.ErrInvalidData},
		{"invalid UTF-8 in a header", "order-1", []eventlog.EventData{withMeta(eventlog.Metadata{Headers: map[string]string{"k\xfe": "v"}})}, eventlog.ErrInvalidData},
		{"oversized", "order-1", []eventlog.EventData{withData(`"` + strings.Repeat("x", 2000) + `"`)}, eventlog.ErrPayloadTooLarge},
		{"oversized metadata", "order-1", []eventlog.EventData{withMeta(eventlog.Metadata{Headers: map[string]string{"h": strings.Repeat("x", 2000)}})}, eventlog.ErrPayloadTooLarge},
		// The size is checked before anything is parsed: an oversized
		// payload is refused as such whatever else is wrong with it.
		{"oversized and malformed", "order-1", []eventlog.EventData{withData(`{"a":"` + strings.Repeat("x", 2000))}, eventlog.ErrPayloadTooLarge},
		{"oversized and not UTF-8", "order-1", []eventlog.EventData{withData(strings.Repeat("\xff", 2000))}, eventlog.ErrPayloadTooLarge},
		{"oversized with bad metadata", "order-1", []eventlog.EventData{{Type: "T", Data: json.RawMessage(`"` + strings.Repeat("x", 2000) + `"`), Metadata: eventlog.Metadata{CorrelationID: "\xff\x00"}}}, eventlog.ErrPayloadTooLarge},
		// A bad event anywhere refuses the whole append.
		{"bad second event", "order-1", []eventlog.EventData{good, withData(`nope`)}, eventlog.ErrInvalidData},
	}
	for _, c := range cases {
		_, err := s.Append(ctx, c.stream, eventlog.Any, c.events...)
		if !errors.Is(err, eventlog.ErrInvalidEvent) || !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent and %v", c.name, err, c.want)
			continue
		}
		var ve *eventlog.ValidationError
		if !errors.As(err, &ve) || ve.Error() == "" {
			t.Errorf("%s: err %v is not a *ValidationError", c.name, err)
		}
	}
	// A surrogate pair and escaped text are fine.
	ok := mustAppend(t, s, "ok-1", eventlog.Any, withData(`{"emoji":"\ud83d\ude00","q":"\"\\"}`))
	waitVisible(t, s, lastPos(ok))
	if all := readAll(t, s, eventlog.Start, eventlog.Filter{}); len(all) != 1 {
		t.Fatalf("log has %d events, want only the valid one", len(all))
	}
	// Reading a bad stream id is an error too, not a silent empty read.
	for _, err := range s.ReadStream(ctx, "", eventlog.ReadStreamOptions{}) {
		if !errors.Is(err, eventlog.ErrInvalidStreamID) {
			t.Errorf("read stream with empty id: err = %v", err)
		}
	}
}

func testReadStreamPaging(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	const n = eventlog.DefaultBatchSize*2 + 37
	batch := make([]eventlog.EventData, 0, 100)
	version := int64(0)
	for version < n {
		batch = batch[:0]
		for i := 0; i < 100 && version+int64(len(batch)) < n; i++ {
			batch = append(batch, ev(t, "Step", version+int64(i)+1))
		}
		res := mustAppend(t, s, "page-1", eventlog.Exactly(version), batch...)
		version = res.NextExpectedVersion
	}
	mustAppend(t, s, "page-2", eventlog.Any, ev(t, "Other", 0))

	check := func(name string, opts eventlog.ReadStreamOptions, first, count int64, step int64) {
		t.Helper()
		got := readStream(t, s, "page-1", opts)
		if int64(len(got)) != count {
			t.Fatalf("%s: %d events, want %d", name, len(got), count)
		}
		for i, e := range got {
			want := first + int64(i)*step
			var data int64
			_ = json.Unmarshal(e.Data, &data)
			if e.Version != want || data != want {
				t.Fatalf("%s: event %d has version %d data %d, want %d", name, i, e.Version, data, want)
			}
		}
	}
	check("all forwards", eventlog.ReadStreamOptions{}, 1, n, 1)
	check("forwards from 600", eventlog.ReadStreamOptions{From: 600}, 600, n-599, 1)
	check("forwards limit", eventlog.ReadStreamOptions{From: 10, Limit: 700}, 10, 700, 1)
	check("all backwards", eventlog.ReadStreamOptions{Direction: eventlog.Backwards}, n, n, -1)
	check("backwards from 700 limit 600", eventlog.ReadStreamOptions{Direction: eventlog.Backwards, From: 700, Limit: 600}, 700, 600, -1)
	check("past the end", eventlog.ReadStreamOptions{From: n + 1}, 0, 0, 1)

	// Stopping early must not be an error.
	count := 0
	for _, err := range s.ReadStream(ctxT(t), "page-1", eventlog.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if count++; count == 3 {
			break
		}
	}
}

func testReadBatchFilters(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	ctx := ctxT(t)
	type rec struct{ stream, typ string }
	var (
		want []rec
		last eventlog.AppendResult
	)
	for i := 0; i < 30; i++ {
		stream := []string{"order-%d", "payment-%d", "ship-%d"}[i%3]
		stream = fmt.Sprintf(stream, i%4)
		typ := []string{"Created", "Updated"}[i%2]
		last = mustAppend(t, s, stream, eventlog.Any, ev(t, typ, i))
		want = append(want, rec{stream, typ})
	}
	waitVisible(t, s, lastPos(last))
	all := readAll(t, s, eventlog.Start, eventlog.Filter{})
	if len(all) != len(want) {
		t.Fatalf("read %d events, want %d", len(all), len(want))
	}
	for i, e := range all {
		var n int
		_ = json.Unmarshal(e.Data, &n)
		if n != i || e.StreamID != want[i].stream || e.Type != want[i].typ {
			t.Fatalf("event %d out of order: %s %s %d", i, e.StreamID, e.Type, n)
		}
		if i > 0 && !all[i-1].Position.Before(e.Position) {
			t.Fatalf("positions not increasing at %d", i)
		}
	}

	filters := []eventlog.Filter{
		{Categories: []string{"order"}},
		{Categories: []string{"order", "ship"}},
		{Types: []string{"Updated"}},
		{Categories: []string{"payment"}, Types: []string{"Created"}},
		{Categories: []string{"nothing"}},
	}
	for _, f := range filters {
		var expect []eventlog.Event
		for i := range all {
			if f.Matches(&all[i]) {
				expect = append(expect, all[i])
			}
		}
		// Page through in small batches, as a subscription does.
		var got []eventlog.Event
		cursor := eventlog.Start
		for {
			b, err := s.ReadBatch(ctx, cursor, f, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Events) > 4 {
				t.Fatalf("batch of %d over limit 4", len(b.Events))
			}
			if b.Next.Before(cursor) {
				t.Fatalf("cursor moved backwards: %v → %v", cursor, b.Next)
			}
			got = append(got, b.Events...)
			cursor = b.Next
			if b.CaughtUp {
				break
			}
		}
		if len(got) != len(expect) {
			t.Fatalf("filter %+v: %d events, want %d", f, len(got), len(expect))
		}
		for i := range got {
			if got[i].ID != expect[i].ID {
				t.Fatalf("filter %+v: event %d differs", f, i)
			}
		}
		// A caught-up cursor is past every event of the log, so nothing is
		// re-read, whatever the filter excluded.
		if cursor.Before(all[len(all)-1].Position) {
			t.Fatalf("filter %+v: caught-up cursor %v behind the last event %v", f, cursor, all[len(all)-1].Position)
		}
		b, err := s.ReadBatch(ctx, cursor, eventlog.Filter{}, 10)
		if err != nil || len(b.Events) != 0 || !b.CaughtUp {
			t.Fatalf("read after caught-up cursor: %d events, caught up %v, err %v", len(b.Events), b.CaughtUp, err)
		}
	}
	// Cursors survive their text form.
	p, err := eventlog.ParsePosition(all[5].Position.String())
	if err != nil || p != all[5].Position {
		t.Fatalf("ParsePosition(%s) = %v, %v", all[5].Position, p, err)
	}
	b, err := s.ReadBatch(ctx, p, eventlog.Filter{}, 1)
	if err != nil || len(b.Events) != 1 || b.Events[0].ID != all[6].ID || b.CaughtUp {
		t.Fatalf("read after %v: %+v, %v", p, b, err)
	}
}

// testCursorStopsAtLastRow: a batch's Next is the cursor it was given or
// the position of a stored event — past filtered-out events, but never
// beyond the last one. A position between or past events (a horizon) is not
// safe to keep: PostgreSQL can hand out the transaction ids above the last
// committed row again after crash recovery.
func testCursorStopsAtLastRow(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	ctx := ctxT(t)
	read := func(after eventlog.Position, f eventlog.Filter, limit int) eventlog.Batch {
		t.Helper()
		b, err := s.ReadBatch(ctx, after, f, limit)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if b := read(eventlog.Start, eventlog.Filter{}, 10); b.Next != eventlog.Start || !b.CaughtUp || len(b.Events) != 0 {
		t.Fatalf("empty log: next %v, caught up %v, %d events; want Start, true, 0", b.Next, b.CaughtUp, len(b.Events))
	}
	first := lastPos(mustAppend(t, s, "kept-1", eventlog.Any, ev(t, "K", 1)))
	last := lastPos(mustAppend(t, s, "skipped-1", eventlog.Any, ev(t, "S", 2)))
	waitVisible(t, s, last)

	kept := eventlog.Filter{Categories: []string{"kept"}}
	cases := []struct {
		name   string
		after  eventlog.Position
		filter eventlog.Filter
		limit  int
		events int
		next   eventlog.Position
	}{
		{"unfiltered", eventlog.Start, eventlog.Filter{}, 10, 2, last},
		{"full batch", eventlog.Start, eventlog.Filter{}, 1, 1, first},
		{"past a filtered-out event", eventlog.Start, kept, 10, 1, last},
		{"nothing matches", eventlog.Start, eventlog.Filter{Categories: []string{"none"}}, 10, 0, last},
		{"caught up", last, kept, 10, 0, last},
		{"never backwards", eventlog.Position{TxID: last.TxID, Seq: last.Seq + 100}, eventlog.Filter{}, 10, 0,
			eventlog.Position{TxID: last.TxID, Seq: last.Seq + 100}},
	}
	for _, c := range cases {
		b := read(c.after, c.filter, c.limit)
		if len(b.Events) != c.events || b.Next != c.next {
			t.Errorf("%s: %d events, next %v; want %d events, next %v", c.name, len(b.Events), b.Next, c.events, c.next)
		}
	}
}

func testReadAll(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	const n = eventlog.DefaultBatchSize + 100
	var events []eventlog.EventData
	for i := 0; i < n; i++ {
		events = append(events, ev(t, "N", i))
	}
	var last eventlog.AppendResult
	for i := 0; i < n; i += 200 {
		last = mustAppend(t, s, fmt.Sprintf("num-%d", i), eventlog.NoStream, events[i:min(i+200, n)]...)
	}
	waitVisible(t, s, lastPos(last))
	got := readAll(t, s, eventlog.Start, eventlog.Filter{})
	if len(got) != n {
		t.Fatalf("ReadAll yielded %d, want %d", len(got), n)
	}
	from := got[99].Position
	rest := readAll(t, s, from, eventlog.Filter{})
	if len(rest) != n-100 || rest[0].ID != got[100].ID {
		t.Fatalf("ReadAll after %v yielded %d", from, len(rest))
	}
	count := 0
	for range s.ReadAll(ctxT(t), eventlog.Start, eventlog.Filter{}) {
		if count++; count == 5 {
			break
		}
	}
	if count != 5 {
		t.Fatal("early break")
	}
}

func testHeadAndCount(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	ctx := ctxT(t)
	h, err := s.Head(ctx)
	if err != nil || !h.IsZero() {
		t.Fatalf("empty head = %v, %v", h, err)
	}
	var last eventlog.AppendResult
	for i := 0; i < 10; i++ {
		stream := "a-1"
		if i%2 == 1 {
			stream = "b-1"
		}
		last = mustAppend(t, s, stream, eventlog.Any, ev(t, "E", i))
	}
	waitVisible(t, s, lastPos(last))
	h, err = s.Head(ctx)
	if err != nil || h != last.Positions[0] {
		t.Fatalf("head = %v, %v; want %v", h, err, last.Positions[0])
	}
	all := readAll(t, s, eventlog.Start, eventlog.Filter{})
	count := func(from, to eventlog.Position, f eventlog.Filter) int64 {
		n, err := s.CountBetween(ctx, from, to, f)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(eventlog.Start, h, eventlog.Filter{}); n != 10 {
		t.Errorf("count all = %d", n)
	}
	if n := count(all[3].Position, h, eventlog.Filter{}); n != 6 {
		t.Errorf("count after 4th = %d", n)
	}
	if n := count(eventlog.Start, h, eventlog.Filter{Categories: []string{"b"}}); n != 5 {
		t.Errorf("count category b = %d", n)
	}
	if n := count(all[3].Position, all[6].Position, eventlog.Filter{}); n != 3 {
		t.Errorf("count (4th, 7th] = %d", n)
	}
	if n := count(h, h, eventlog.Filter{}); n != 0 {
		t.Errorf("count at head = %d", n)
	}
}

// testConcurrentExpectedVersion races writers on one stream, each appending
// at the version it last saw: every version is written exactly once.
func testConcurrentExpectedVersion(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	ctx := ctxT(t)
	const writers, perWriter = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < perWriter; {
				var version int64
				for e, err := range s.ReadStream(ctx, "race-1", eventlog.ReadStreamOptions{Direction: eventlog.Backwards, Limit: 1}) {
					if err != nil {
						errs <- err
						return
					}
					version = e.Version
				}
				_, err := s.Append(ctx, "race-1", eventlog.Exactly(version), ev(t, "W", w))
				switch {
				case err == nil:
					done++
				case errors.Is(err, eventlog.ErrWrongExpectedVersion):
				default:
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := readStream(t, s, "race-1", eventlog.ReadStreamOptions{})
	if len(got) != writers*perWriter {
		t.Fatalf("%d events, want %d", len(got), writers*perWriter)
	}
	for i, e := range got {
		if e.Version != int64(i+1) {
			t.Fatalf("version %d at index %d", e.Version, i)
		}
		if i > 0 && !got[i-1].Position.Before(e.Position) {
			t.Fatalf("stream order differs from global order at version %d", e.Version)
		}
	}
}

func testTailer(t *testing.T, newStore NewStore) {
	s := newStore(t, Options{})
	tailed, ok := s.(Tailed)
	if !ok {
		t.Fatalf("%T has no Tailer()", s)
	}
	tl := tailed.Tailer()
	sub := tl.Subscribe()
	defer sub.Close()
	<-sub.C // starts signalled
	res := mustAppend(t, s, "tail-1", eventlog.Any, ev(t, "T", 1))
	select {
	case <-sub.C:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up within 5 s of an append")
	}
	deadline := time.Now().Add(5 * time.Second)
	for tl.Head() != res.Positions[0] {
		if time.Now().After(deadline) {
			t.Fatalf("tailer head %v, want %v", tl.Head(), res.Positions[0])
		}
		time.Sleep(time.Millisecond)
	}
}

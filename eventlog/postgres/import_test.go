package postgres_test

import (
	"errors"
	"fmt"
	"iter"
	"testing"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
)

func importSeq(n int, streams ...string) iter.Seq[postgres.ImportEvent] {
	return func(yield func(postgres.ImportEvent) bool) {
		for i := 0; i < n; i++ {
			e, _ := eventlog.NewEvent("Imported", i)
			if !yield(postgres.ImportEvent{StreamID: streams[i%len(streams)], EventData: e}) {
				return
			}
		}
	}
}

func TestImport(t *testing.T) {
	s, _ := newStore(t, postgres.Config{})
	ctx := testCtx(t)
	res, err := s.Import(ctx, importSeq(3000, "imp-a", "imp-b", "imp-c"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 3000 || res.Streams != 3 {
		t.Fatalf("result %+v", res)
	}
	for _, stream := range []string{"imp-a", "imp-b", "imp-c"} {
		v := int64(0)
		for e, err := range s.ReadStream(ctx, stream, eventlog.ReadStreamOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			if v++; e.Version != v {
				t.Fatalf("%s: version %d at %d", stream, e.Version, v)
			}
		}
		if v != 1000 {
			t.Fatalf("%s has %d events", stream, v)
		}
	}
	// Appends continue the imported streams.
	e, _ := eventlog.NewEvent("After", 1)
	if _, err := s.Append(ctx, "imp-a", eventlog.Exactly(1000), e); err != nil {
		t.Fatal(err)
	}

	head, _ := s.Head(ctx)
	// An existing stream fails the whole import; nothing is written.
	_, err = s.Import(ctx, importSeq(10, "imp-new", "imp-b"))
	if !errors.Is(err, postgres.ErrStreamExists) {
		t.Fatalf("import into existing stream: err = %v", err)
	}
	// So does bad input, with the event's index.
	bad := func(yield func(postgres.ImportEvent) bool) {
		for i := 0; i < 5; i++ {
			d := []byte(fmt.Sprintf(`{"i":%d}`, i))
			if i == 3 {
				d = []byte(`{broken`)
			}
			if !yield(postgres.ImportEvent{StreamID: "imp-bad", EventData: eventlog.EventData{Type: "X", Data: d}}) {
				return
			}
		}
	}
	_, err = s.Import(ctx, bad)
	var ve *eventlog.ValidationError
	if !errors.Is(err, eventlog.ErrInvalidData) || !errors.As(err, &ve) || ve.Index != 3 {
		t.Fatalf("bad import: err = %v", err)
	}
	if after, _ := s.Head(ctx); after != head {
		t.Fatalf("failed imports wrote events: head %v → %v", head, after)
	}
}

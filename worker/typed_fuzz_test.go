package worker

import (
	"context"
	"testing"

	"github.com/causewayhq/causeway/eventlog"
)

type fuzzOrder struct {
	ID    string            `json:"id"`
	Cents int64             `json:"cents"`
	Lines []map[string]int  `json:"lines"`
	Tags  map[string]string `json:"tags"`
}

func (fuzzOrder) EventType() string { return "OrderPlaced" }

// FuzzTyped: whatever bytes an event carries, a typed (On) handler either
// gets a decoded value or fails permanently (so the event is dead-lettered,
// not retried); it never panics.
func FuzzTyped(f *testing.F) {
	for _, s := range []string{`{"id":"o-1","cents":1250,"lines":[{"sku":2}]}`, `{}`, `null`, `[]`, `{"cents":"x"}`, `{"cents":1e400}`, `{"id":`, "\xff", ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		called := false
		sub := NewSubscription("fuzz", On(func(ctx context.Context, d *Delivery, e eventlog.Envelope[fuzzOrder]) error {
			called = true
			return nil
		}))
		if err := sub.Err(); err != nil {
			t.Fatal(err)
		}
		h := sub.build(nil).Handler
		err := h(context.Background(), &Delivery{Event: eventlog.Event{Type: "OrderPlaced", Data: data}})
		switch {
		case err == nil && !called:
			t.Fatal("no error, but the handler was not called")
		case err != nil && called:
			t.Fatalf("handler called, yet %v", err)
		case err != nil && !IsPermanent(err):
			t.Fatalf("decode failure is not permanent: %v", err)
		}
	})
}

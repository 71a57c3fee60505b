package projection_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
)

type fuzzPlaced struct {
	Order string `json:"order"`
	Cents int64  `json:"cents"`
}

// FuzzHandlerDecode: a projection's handler either decodes an event's
// bytes (after the upcaster) or fails permanently, for any bytes and any of
// its types; unknown types are skipped; it never panics.
func FuzzHandlerDecode(f *testing.F) {
	f.Add("OrderPlaced", []byte(`{"order":"o-1","cents":5}`))
	f.Add("OrderPlacedV1", []byte(`{"order":"o-1","amount":"5"}`))
	f.Add("OrderPlacedV1", []byte(`[1,2]`))
	f.Add("Unknown", []byte(`{`))
	f.Add("OrderPlaced", []byte("\x00"))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		p := projection.New("fuzz", projection.Options{})
		calls := 0
		projection.Handle(p, "OrderPlaced", func(ctx context.Context, tx pgx.Tx, e eventlog.Event, v fuzzPlaced) error {
			calls++
			return nil
		})
		// The old shape had the amount as a string of whole units.
		p.Upcast(eventlog.Upcaster{From: "OrderPlacedV1", To: "OrderPlaced", Fn: func(d json.RawMessage) (json.RawMessage, error) {
			var old struct {
				Order  string `json:"order"`
				Amount int64  `json:"amount,string"`
			}
			if err := json.Unmarshal(d, &old); err != nil {
				return nil, err
			}
			return json.Marshal(fuzzPlaced{Order: old.Order, Cents: old.Amount * 100})
		}})
		sub, err := p.Subscription()
		if err != nil {
			t.Fatal(err)
		}
		err = sub.Handler(context.Background(), &worker.Delivery{Event: eventlog.Event{Type: typ, Data: data}})
		if err != nil && !worker.IsPermanent(err) {
			t.Fatalf("%s %q: decode failure is not permanent: %v", typ, data, err)
		}
		if err == nil && calls == 0 && (typ == "OrderPlaced" || typ == "OrderPlacedV1") {
			t.Fatalf("%s %q: no error and no call", typ, data)
		}
	})
}

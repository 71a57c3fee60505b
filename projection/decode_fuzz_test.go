package projection

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
)

type fuzzPlaced struct {
	Order string `json:"order"`
	Cents int64  `json:"cents"`
}

func (fuzzPlaced) EventType() string { return "OrderPlaced" }

// FuzzHandlerDecode: a projection's handler either decodes an event's
// bytes or fails permanently, for any bytes and any of its types; unknown
// types are skipped; it never panics. (Upcasting happens before, in the
// log the worker reads: see eventlog.UpcastStore.)
func FuzzHandlerDecode(f *testing.F) {
	f.Add("OrderPlaced", []byte(`{"order":"o-1","cents":5}`))
	f.Add("OrderPlaced", []byte(`[1,2]`))
	f.Add("Unknown", []byte(`{`))
	f.Add("OrderPlaced", []byte("\x00"))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		calls := 0
		p := New("fuzz", On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[fuzzPlaced]) error {
			calls++
			return nil
		}))
		if err := p.Err(); err != nil {
			t.Fatal(err)
		}
		err := p.handle(context.Background(), &worker.Delivery{Event: eventlog.Event{Type: typ, Data: data}})
		if err != nil && !worker.IsPermanent(err) {
			t.Fatalf("%s %q: decode failure is not permanent: %v", typ, data, err)
		}
		if err == nil && calls == 0 && typ == "OrderPlaced" {
			t.Fatalf("%s %q: no error and no call", typ, data)
		}
	})
}

package saga_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
)

// TestSagaSeesUpcastEvents: with the log read through upcasters (as the
// runtime does with App.Upcasters), a saga is started by an event stored in
// an old type and shape, and its wait step receives another one, each in
// the current shape: the subscription's type filter reads the old types
// too, and the executor reads the awaited event through the upcasters.
func TestSagaSeesUpcastEvents(t *testing.T) {
	e := newPGEnv(t)
	reader, err := eventlog.WithUpcasters(e.log,
		eventlog.Upcaster{From: "OrderPlaced.v1", To: "OrderPlaced", Fn: func(d json.RawMessage) (json.RawMessage, error) {
			var old struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(d, &old); err != nil {
				return nil, err
			}
			return json.Marshal(order{Order: old.ID})
		}},
		eventlog.Upcaster{From: "PaymentConfirmed.v1", To: "PaymentConfirmed", Fn: func(d json.RawMessage) (json.RawMessage, error) {
			var old struct {
				OrderID   string `json:"order_id"`
				Reference string `json:"reference"`
			}
			if err := json.Unmarshal(d, &old); err != nil {
				return nil, err
			}
			return json.Marshal(paid{Order: old.OrderID, Ref: old.Reference})
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.reader = reader
	e.append(t, "order-u1", "OrderPlaced.v1", map[string]string{"id": "u1"})
	e.append(t, "payment-u1", "PaymentConfirmed.v1", map[string]string{"order_id": "u1", "reference": "ref-9"})
	e.run(t, fulfilment(time.Minute, nil), "x")
	inst := e.waitStatus(t, saga.InstanceID("fulfilment", "u1"), 20*time.Second, saga.StatusCompleted)
	var st orderState
	if err := json.Unmarshal(inst.State, &st); err != nil {
		t.Fatal(err)
	}
	if st.Order != "u1" || st.Payment != "ref-9" || !slices.Equal(st.Log, []string{"reserve", "paid", "ship"}) {
		t.Fatalf("state %+v", st)
	}
}

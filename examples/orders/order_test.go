package orders_test

import (
	"context"
	"errors"
	"testing"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/memory"
	"github.com/causewayhq/causeway/examples/orders"
)

// TestRequestReturn: a return is decided from the order's stream: refused
// for an unknown or unshipped order, accepted once, refused again.
func TestRequestReturn(t *testing.T) {
	ctx := context.Background()
	log := memory.New(memory.Options{})
	t.Cleanup(log.Close)
	id, err := orders.Place(ctx, log, orders.OrderPlaced{OrderID: "r1", Customer: "ann", SKU: "sku-mug", Quantity: 1, Total: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.RequestReturn(ctx, log, id, "too small"); !errors.Is(err, orders.ErrNotReturnable) {
		t.Fatalf("return before shipping: %v", err)
	}
	if err := orders.RequestReturn(ctx, log, "nope", ""); !errors.Is(err, orders.ErrNotReturnable) {
		t.Fatalf("return of an unknown order: %v", err)
	}
	shipped, _ := eventlog.EncodeAll(orders.StockReserved{OrderID: id}, orders.PaymentCharged{OrderID: id}, orders.OrderShipped{OrderID: id})
	if _, err := log.Append(ctx, orders.Stream(id), eventlog.Exactly(1), shipped...); err != nil {
		t.Fatal(err)
	}
	if err := orders.RequestReturn(ctx, log, id, "too small"); err != nil {
		t.Fatalf("return after shipping: %v", err)
	}
	got, err := orders.OrderFold.Load(ctx, log, orders.Stream(id))
	if err != nil || !got.State.ReturnRequested || got.Version != 5 || got.State.Placed.Customer != "ann" {
		t.Fatalf("folded %+v, %v", got, err)
	}
	if err := orders.RequestReturn(ctx, log, id, "again"); !errors.Is(err, orders.ErrNotReturnable) {
		t.Fatalf("second return: %v", err)
	}
}

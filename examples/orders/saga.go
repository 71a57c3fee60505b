package orders

import (
	"context"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

// Fulfilment is the order_fulfilment saga's state.
type Fulfilment struct {
	Order          OrderPlaced `json:"order"`
	ReservationKey string      `json:"reservation_key,omitempty"`
	ChargeKey      string      `json:"charge_key,omitempty"`
	ChargeID       string      `json:"charge_id,omitempty"`
	Tracking       string      `json:"tracking,omitempty"`
}

// emit appends one event to the order's stream with the step's outcome.
func emit(sc *saga.StepContext[Fulfilment], typ string, v any) error {
	e, err := eventlog.NewEvent(typ, v)
	if err != nil {
		return err
	}
	e.Metadata.CorrelationID = sc.State.Order.OrderID
	e.Metadata.CausationID = sc.IdempotencyKey
	sc.Emit(Stream(sc.State.Order.OrderID), eventlog.Any, e)
	return nil
}

// newSaga declares order_fulfilment.
func newSaga(svc *services) *saga.Definition[Fulfilment] {
	d := saga.New[Fulfilment]("order_fulfilment")
	saga.StartOn(d, TypeOrderPlaced, func(e eventlog.Event, o OrderPlaced) (string, Fulfilment, error) {
		return o.OrderID, Fulfilment{Order: o}, nil
	})
	retry := worker.RetryPolicy{MaxAttempts: 3, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}

	d.Step("reserve_stock", func(ctx context.Context, sc *saga.StepContext[Fulfilment]) error {
		o := sc.State.Order
		if err := svc.reserve(ctx, sc.IdempotencyKey, o.SKU, o.Quantity); err != nil {
			return err
		}
		sc.State.ReservationKey = sc.IdempotencyKey
		return emit(sc, TypeStockReserved, StockReserved{OrderID: o.OrderID, Customer: o.Customer, SKU: o.SKU, Quantity: o.Quantity})
	}, saga.StepOptions[Fulfilment]{
		Retry: retry, Timeout: 10 * time.Second,
		Compensate: func(ctx context.Context, sc *saga.StepContext[Fulfilment]) error {
			if err := svc.release(ctx, sc.State.ReservationKey); err != nil {
				return err
			}
			// Releasing the stock is the last compensation: the order is off.
			if err := emit(sc, TypeStockReleased, StockReleased{OrderID: sc.State.Order.OrderID, Customer: sc.State.Order.Customer}); err != nil {
				return err
			}
			return emit(sc, TypeOrderCancelled, OrderCancelled{OrderID: sc.State.Order.OrderID, Customer: sc.State.Order.Customer, Reason: "payment failed"})
		},
	})

	d.Step("charge_payment", func(ctx context.Context, sc *saga.StepContext[Fulfilment]) error {
		o := sc.State.Order
		id, err := svc.charge(ctx, sc.IdempotencyKey, o.Card, o.Total)
		if err != nil {
			return err
		}
		sc.State.ChargeKey, sc.State.ChargeID = sc.IdempotencyKey, id
		return emit(sc, TypePaymentCharged, PaymentCharged{OrderID: o.OrderID, Customer: o.Customer, Amount: o.Total, ChargeID: id})
	}, saga.StepOptions[Fulfilment]{
		Retry: retry, Timeout: 10 * time.Second,
		Compensate: func(ctx context.Context, sc *saga.StepContext[Fulfilment]) error {
			if err := svc.refund(ctx, sc.State.ChargeKey); err != nil {
				return err
			}
			return emit(sc, TypePaymentRefunded, PaymentRefunded{OrderID: sc.State.Order.OrderID, Customer: sc.State.Order.Customer, Amount: sc.State.Order.Total})
		},
	})

	d.Step("ship", func(ctx context.Context, sc *saga.StepContext[Fulfilment]) error {
		tracking, err := svc.ship(ctx, sc.IdempotencyKey, sc.State.Order.OrderID)
		if err != nil {
			return err
		}
		sc.State.Tracking = tracking
		return emit(sc, TypeOrderShipped, OrderShipped{OrderID: sc.State.Order.OrderID, Customer: sc.State.Order.Customer, Tracking: tracking})
	}, saga.StepOptions[Fulfilment]{Retry: retry, Timeout: 10 * time.Second})
	return d
}

package orders

import (
	"context"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker/queue"
)

// Fulfilment is the order_fulfilment saga's state.
type Fulfilment struct {
	Order          OrderPlaced `json:"order"`
	ReservationKey string      `json:"reservation_key,omitempty"`
	ChargeKey      string      `json:"charge_key,omitempty"`
	ChargeID       string      `json:"charge_id,omitempty"`
	Tracking       string      `json:"tracking,omitempty"`
}

// emit appends events to the order's stream with the step's outcome.
func emit(sc *saga.StepContext[Fulfilment], vs ...eventlog.Named) error {
	events, err := eventlog.EncodeAll(vs...)
	if err != nil {
		return err
	}
	for i := range events {
		events[i].Metadata.CorrelationID = sc.State.Order.OrderID
		events[i].Metadata.CausationID = sc.IdempotencyKey
	}
	sc.Emit(Stream(sc.State.Order.OrderID), eventlog.Any, events...)
	return nil
}

// email enqueues a customer email with the step's outcome: it is enqueued
// only if the step is recorded, once however often the step was attempted.
func email(sc *saga.StepContext[Fulfilment], e Email) error {
	m, err := queue.Encode(e)
	if err != nil {
		return err
	}
	sc.Enqueue(EmailsQueue, m)
	return nil
}

// newSaga declares order_fulfilment.
func newSaga(svc *services) *saga.Definition[Fulfilment] {
	retry := saga.Retry(saga.RetryPolicy{MaxAttempts: 3, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	timeout := saga.Timeout(10 * time.Second)
	return saga.New[Fulfilment]("order_fulfilment",
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[OrderPlaced]) (saga.Start[Fulfilment], error) {
			return saga.Start[Fulfilment]{CorrelationID: e.Data.OrderID, State: Fulfilment{Order: e.Data}}, nil
		}),

		saga.Step("reserve_stock", func(ctx context.Context, sc *saga.StepContext[Fulfilment]) error {
			o := sc.State.Order
			if err := svc.reserve(ctx, sc.IdempotencyKey, o.SKU, o.Quantity); err != nil {
				return err
			}
			sc.State.ReservationKey = sc.IdempotencyKey
			return emit(sc, StockReserved{OrderID: o.OrderID, Customer: o.Customer, SKU: o.SKU, Quantity: o.Quantity})
		}, retry, timeout, saga.Compensate(func(ctx context.Context, sc *saga.StepContext[Fulfilment]) error {
			if err := svc.release(ctx, sc.State.ReservationKey); err != nil {
				return err
			}
			// Releasing the stock is the last compensation: the order is off.
			o := sc.State.Order
			if err := email(sc, Email{OrderID: o.OrderID, Customer: o.Customer, Kind: "cancelled"}); err != nil {
				return err
			}
			return emit(sc, StockReleased{OrderID: o.OrderID, Customer: o.Customer},
				OrderCancelled{OrderID: o.OrderID, Customer: o.Customer, Reason: "payment failed"})
		})),

		saga.Step("charge_payment", func(ctx context.Context, sc *saga.StepContext[Fulfilment]) error {
			o := sc.State.Order
			id, err := svc.charge(ctx, sc.IdempotencyKey, o.Card, o.Total)
			if err != nil {
				return err
			}
			sc.State.ChargeKey, sc.State.ChargeID = sc.IdempotencyKey, id
			return emit(sc, PaymentCharged{OrderID: o.OrderID, Customer: o.Customer, Amount: o.Total, ChargeID: id})
		}, retry, timeout, saga.Compensate(func(ctx context.Context, sc *saga.StepContext[Fulfilment]) error {
			if err := svc.refund(ctx, sc.State.ChargeKey); err != nil {
				return err
			}
			o := sc.State.Order
			return emit(sc, PaymentRefunded{OrderID: o.OrderID, Customer: o.Customer, Amount: o.Total})
		})),

		saga.Step("ship", func(ctx context.Context, sc *saga.StepContext[Fulfilment]) error {
			tracking, err := svc.ship(ctx, sc.IdempotencyKey, sc.State.Order.OrderID)
			if err != nil {
				return err
			}
			sc.State.Tracking = tracking
			o := sc.State.Order
			if err := email(sc, Email{OrderID: o.OrderID, Customer: o.Customer, Kind: "shipped", Tracking: tracking}); err != nil {
				return err
			}
			return emit(sc, OrderShipped{OrderID: sc.State.Order.OrderID, Customer: sc.State.Order.Customer, Tracking: tracking})
		}, retry, timeout),
	)
}

package orders

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
)

// newProjection declares order_summary: each order's status and total, and
// each customer's orders, spending (shipped orders) and cancellations.
func newProjection(schema string) *projection.Projection {
	orders, customers := schema+".order_summary", schema+".customer_summary"
	// Partitioned by customer, not by order stream: all of a customer's
	// events go to one partition, so its row in customer_summary is only
	// ever written by one transaction at a time (no lock contention or
	// deadlocks between partitions), and its orders' events stay in order.
	status := func(ctx context.Context, tx pgx.Tx, e eventlog.Event, order, s string) error {
		_, err := tx.Exec(ctx, `UPDATE `+orders+` SET status = $2, updated_at = $3 WHERE order_id = $1`, order, s, e.RecordedAt)
		return err
	}
	return projection.New("order_summary",
		projection.Categories("order"),
		projection.Key(customerKey),
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `
			CREATE SCHEMA IF NOT EXISTS `+schema+`;
			CREATE TABLE IF NOT EXISTS `+orders+` (
				order_id text PRIMARY KEY, customer text NOT NULL, total numeric(12,2) NOT NULL,
				status text NOT NULL, tracking text NOT NULL DEFAULT '', updated_at timestamptz NOT NULL);
			CREATE TABLE IF NOT EXISTS `+customers+` (
				customer text PRIMARY KEY, orders int NOT NULL DEFAULT 0, shipped int NOT NULL DEFAULT 0,
				cancelled int NOT NULL DEFAULT 0, spent numeric(12,2) NOT NULL DEFAULT 0)`)
			return err
		}),
		projection.OnReset(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `TRUNCATE `+orders+`, `+customers)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[OrderPlaced]) error {
			o := e.Data
			if _, err := tx.Exec(ctx, `INSERT INTO `+orders+` (order_id, customer, total, status, updated_at) VALUES ($1, $2, $3, 'placed', $4)`,
				o.OrderID, o.Customer, o.Total, e.RecordedAt); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO `+customers+` (customer, orders) VALUES ($1, 1)
			ON CONFLICT (customer) DO UPDATE SET orders = `+customers+`.orders + 1`, o.Customer)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[StockReserved]) error {
			return status(ctx, tx, e.Event, e.Data.OrderID, "stock reserved")
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[PaymentCharged]) error {
			return status(ctx, tx, e.Event, e.Data.OrderID, "paid")
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[PaymentRefunded]) error {
			return status(ctx, tx, e.Event, e.Data.OrderID, "refunded")
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[StockReleased]) error {
			return status(ctx, tx, e.Event, e.Data.OrderID, "stock released")
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[OrderShipped]) error {
			if _, err := tx.Exec(ctx, `UPDATE `+orders+` SET status = 'shipped', tracking = $2, updated_at = $3 WHERE order_id = $1`,
				e.Data.OrderID, e.Data.Tracking, e.RecordedAt); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE `+customers+` c SET shipped = shipped + 1, spent = spent + o.total
			FROM `+orders+` o WHERE o.order_id = $1 AND c.customer = o.customer`, e.Data.OrderID)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[OrderCancelled]) error {
			if err := status(ctx, tx, e.Event, e.Data.OrderID, "cancelled"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE `+customers+` c SET cancelled = cancelled + 1
			FROM `+orders+` o WHERE o.order_id = $1 AND c.customer = o.customer`, e.Data.OrderID)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[ReturnRequested]) error {
			return status(ctx, tx, e.Event, e.Data.OrderID, "return requested")
		}),
	)
}

// customerKey partitions order events by customer.
func customerKey(e *eventlog.Event) string {
	var v struct {
		Customer string `json:"customer"`
	}
	if json.Unmarshal(e.Data, &v) != nil || v.Customer == "" {
		return e.StreamID
	}
	return v.Customer
}

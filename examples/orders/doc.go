// Package orders is a complete order-fulfilment application on Causeway.
//
// An OrderPlaced event starts the order_fulfilment saga: reserve stock →
// charge payment → ship, with compensations release stock and refund
// payment. A declined card fails the payment step for good, so the saga
// compensates: the stock is released and the order cancelled. Every step
// emits an event onto the order's stream in the same transaction as the
// saga's state, and the order_summary projection folds those events into a
// read model: each order's status and each customer's totals.
//
// The warehouse, payment provider and courier are simulated in PostgreSQL
// tables keyed by each step's idempotency key, as real ones would be: a
// step re-run after a crash changes nothing twice.
//
// App builds the runtime.App; the cmd/orders binary runs it in production
// through runtime.Main, and `go run ./cmd/runner demo` runs it end to end.
package orders

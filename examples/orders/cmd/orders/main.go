// Command orders is the order-fulfilment example as a production binary:
// the whole Causeway command line (run, migrate, status, replay, dlq,
// sagas) plus place-order.
//
//	DATABASE_URL=postgres://… orders migrate
//	DATABASE_URL=postgres://… orders run            # as many as you like
//	DATABASE_URL=postgres://… orders place-order --customer ann --total 35
package main

import (
	"github.com/causewayhq/causeway/examples/orders"
	"github.com/causewayhq/causeway/runtime"
)

func main() { runtime.Main(orders.App()) }

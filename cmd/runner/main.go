// Command runner is Causeway's stock binary: the operations commands
// (migrate, status, replay, dlq, sagas) for any Causeway database, `demo`
// (the orders example end to end, on a throwaway embedded PostgreSQL when
// DATABASE_URL is unset) and `bench`.
//
// Programs with their own projections and sagas build their own binary with
// runtime.Main, which gives them the same commands plus `run`.
package main

import (
	"github.com/causewayhq/causeway/examples/orders"
	"github.com/causewayhq/causeway/runtime"
)

func main() {
	runtime.Main(runtime.App{
		Name:     "runner",
		Commands: []runtime.Command{orders.DemoCommand()},
	})
}

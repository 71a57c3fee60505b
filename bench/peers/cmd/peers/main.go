// Command peers measures Causeway beside DBOS Transact, River,
// watermill-sql and plain pgx on one PostgreSQL server; see the package
// github.com/causewayhq/causeway/bench/peers and docs/benchmarks.md.
//
//	go run ./cmd/peers --durable --reps 3 --json    # from bench/peers
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/causewayhq/causeway/bench/peers"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := peers.Command(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

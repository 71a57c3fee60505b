// Command causeway-bench runs the event log benchmarks of package
// internal/bench; `runner bench` is meant to do the same through
// bench.Command. Usage:
//
//	go run ./internal/bench/cmd/causeway-bench [-durable] [-json] [-v] SCENARIO...|all
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/causewayhq/causeway/internal/bench"
)

func main() {
	bench.MaybeRunChild() // the latency scenario re-executes this binary as its reader
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := bench.Command(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(2)
	}
}

// Command runner is Causeway's stock binary: the operations commands
// (migrate, status, replay, dlq, sagas) for any Causeway database, `demo`
// (the orders example end to end, on a throwaway embedded PostgreSQL when
// DATABASE_URL is unset; package internal/demo), `bench` (the benchmarks of
// internal/bench, beside plain pgx; see docs/benchmarks.md) and
// `reliability` (the fault injection harness of internal/reliability; see
// docs/reliability.md). These tools live under cmd/runner/internal so that
// only this binary links them: no library package depends on them.
//
// Programs with their own projections and sagas build their own binary with
// runtime.Main, which gives them the same commands plus `run`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/causewayhq/causeway/cmd/runner/internal/bench"
	"github.com/causewayhq/causeway/cmd/runner/internal/demo"
	"github.com/causewayhq/causeway/cmd/runner/internal/reliability"
	"github.com/causewayhq/causeway/runtime"
)

func main() {
	// The latency scenarios re-execute this binary as their reader: such a
	// process reads, reports and exits here, before any command line.
	bench.MaybeRunChild()
	// So do the reliability harness's consumer processes.
	reliability.MaybeRunChild()
	runtime.Main(runtime.App{
		Name:     "runner",
		Commands: []runtime.Command{demo.Command(), benchCommand(), reliabilityCommand()},
	})
}

func benchCommand() runtime.Command {
	return runtime.Command{
		Name:    "bench",
		Summary: "measure Causeway beside plain pgx: bench SCENARIO... [--json] (bench --help lists them)",
		Run: func(ctx context.Context, args []string) error {
			err := bench.Command(ctx, args, os.Stdout, os.Stderr)
			if ue, ok := errors.AsType[*bench.UsageError](err); ok {
				return fmt.Errorf("%w: %s", runtime.ErrUsage, ue.Msg)
			}
			return err
		},
	}
}

func reliabilityCommand() runtime.Command {
	return runtime.Command{
		Name:    "reliability",
		Summary: "inject faults into consumers and PostgreSQL for a while, then check nothing was lost: reliability [--duration 2m] [--json]",
		Run: func(ctx context.Context, args []string) error {
			return reliability.Command(ctx, args, os.Stdout, os.Stderr)
		},
	}
}

package reliability

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/causewayhq/causeway/runtime"
)

// ErrViolations is returned by Command when the run found violations (the
// summary has been printed).
var ErrViolations = errors.New("reliability: violations found")

// Command implements `reliability [flags]` for a CLI such as `runner
// reliability`: it runs the harness against DATABASE_URL or, when that is
// unset, a throwaway embedded PostgreSQL, prints progress on stderr and the
// summary on stdout (one JSON object with --json), and returns
// ErrViolations when the oracle found any. The binary must call
// MaybeRunChild first thing in main.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reliability", flag.ContinueOnError)
	fs.SetOutput(stdout) // --help prints the flags
	var (
		opts     = Options{DatabaseURL: os.Getenv("DATABASE_URL")}
		asJSON   = fs.Bool("json", false, "print the summary as one JSON object")
		faults   = fs.String("faults", "all", "fault kinds: all, or a comma-separated list of "+strings.Join(AllFaults, ","))
		quiet    = fs.Bool("quiet", false, "no progress lines on stderr")
		verbose  = fs.Bool("v", false, "log the harness's diagnostics on stderr")
		embedded = fs.Bool("embedded", false, "use a throwaway embedded PostgreSQL even if DATABASE_URL is set")
	)
	fs.DurationVar(&opts.Duration, "duration", DefaultDuration, "how long to append events and inject faults")
	fs.Int64Var(&opts.Seed, "seed", 0, "random seed (0: from the clock; printed in the summary)")
	fs.IntVar(&opts.Workers, "workers", DefaultWorkers, "most consumer processes alive at once (at least one always is)")
	fs.Float64Var(&opts.Rate, "rate", DefaultRate, "steady append rate, events/s")
	fs.IntVar(&opts.Backlog, "backlog", DefaultBacklog, "events appended before the consumers start (negative: none)")
	fs.IntVar(&opts.Burst, "burst", DefaultBurst, "events per burst, every 10-25 s (negative: no bursts)")
	fs.Float64Var(&opts.SagaRate, "saga-rate", DefaultSagaRate, "saga requests per second")
	fs.DurationVar(&opts.FaultEvery, "fault-every", DefaultFaultEvery, "mean time between faults")
	fs.DurationVar(&opts.LeaseTTL, "lease-ttl", DefaultLeaseTTL, "the consumers' partition lease TTL")
	fs.DurationVar(&opts.SettleTimeout, "settle-timeout", DefaultSettleTimeout, "bound on the wait for catch-up after the run")
	fs.StringVar(&opts.Schema, "schema", DefaultSchema, "Causeway's schema (dropped and recreated, with SCHEMA_app)")
	fs.StringVar(&opts.LogDir, "log-dir", "", "keep the consumers' logs here (default: a temporary directory, kept only on violations)")
	rest, err := runtime.ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", runtime.ErrUsage, rest)
	}
	if opts.Faults, err = ParseFaults(*faults); err != nil {
		return fmt.Errorf("%w: --faults: %v", runtime.ErrUsage, err)
	}
	if *embedded {
		opts.DatabaseURL = ""
	}
	if !*quiet {
		opts.Progress = stderr
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sum, err := Run(ctx, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := sum.WriteJSON(stdout); err != nil {
			return err
		}
	} else {
		sum.WriteText(stdout)
	}
	if !sum.OK {
		return fmt.Errorf("%w: %d of %d kinds", ErrViolations, sum.ViolationCount(), len(sum.Violations))
	}
	return nil
}

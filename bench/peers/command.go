package peers

import (
	"context"
	"encoding/json"

	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/causewayhq/causeway/bench/peers/internal/pgserver"
)

// Scenarios maps each scenario name to its run.
var Scenarios = map[string]func(context.Context, *Env, Options) ([]Result, error){
	"workflow-noop":   func(ctx context.Context, e *Env, o Options) ([]Result, error) { return Workflows(ctx, e, o, false) },
	"workflow-insert": func(ctx context.Context, e *Env, o Options) ([]Result, error) { return Workflows(ctx, e, o, true) },
	"append":          Append,
	"catchup-noop":    func(ctx context.Context, e *Env, o Options) ([]Result, error) { return CatchUp(ctx, e, o, false) },
	"catchup-upsert":  func(ctx context.Context, e *Env, o Options) ([]Result, error) { return CatchUp(ctx, e, o, true) },
}

// Names lists the scenarios in the order "all" runs them.
func Names() []string {
	return []string{"workflow-noop", "workflow-insert", "append", "catchup-noop", "catchup-upsert"}
}

// EnvironmentLine is the first JSON line: where the results were measured.
type EnvironmentLine struct {
	Type     string   `json:"type"`     // "environment"
	Scenario string   `json:"scenario"` // "environment"
	Machine  Machine  `json:"machine"`
	Server   Server   `json:"server"`
	Durable  *bool    `json:"durable,omitempty"` // set when the command started the server
	Peers    []string `json:"peers"`
}

// ResultLine is one result as printed with -json.
type ResultLine struct {
	Type string `json:"type"` // "result"
	Result
}

// peerVersions are the peers' module versions (see go.mod).
var peerVersions = []string{"github.com/dbos-inc/dbos-transact-golang v1.9.0", "github.com/riverqueue/river v0.51.2",
	"github.com/ThreeDotsLabs/watermill-sql/v4 v4.1.2", "github.com/ThreeDotsLabs/watermill v1.5.1", "github.com/jackc/pgx/v5 (this module's go.mod)"}

// Command implements `peers [flags] [SCENARIO...]` (default all).
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := DefaultOptions()
	var (
		asJSON    = fs.Bool("json", false, "print JSON Lines: an environment line, then one line per result")
		url       = fs.String("url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL; empty starts a throwaway server)")
		durable   = fs.Bool("durable", false, "throwaway server: keep fsync, synchronous_commit and full_page_writes on (the headline setting)")
		quietWait = fs.Duration("quiet-wait", 30*time.Second, "before each repetition wait up to this long for other processes to go idle (0: neither wait nor re-run disturbed repetitions)")
		verbose   = fs.Bool("v", false, "log each repetition to stderr")
		o         = Options{}
		settings  = map[string]string{}
	)
	fs.IntVar(&o.Reps, "reps", d.Reps, "measured repetitions per arm")
	fs.IntVar(&o.Workflows, "workflows", d.Workflows, "workflows per throughput repetition")
	fs.IntVar(&o.LatencyWorkflows, "latency-workflows", d.LatencyWorkflows, "workflows timed per latency repetition")
	fs.IntVar(&o.LatencyWarmup, "latency-warmup", d.LatencyWarmup, "untimed workflows before them (negative: none)")
	fs.Float64Var(&o.Rate, "rate", d.Rate, "latency runs: workflow starts per second")
	fs.IntVar(&o.Concurrency, "concurrency", d.Concurrency, "goroutines starting workflows or appending; Causeway's executor concurrency")
	fs.IntVar(&o.Appends, "appends", d.Appends, "appends per repetition")
	fs.IntVar(&o.CatchUpEvents, "catchup-events", d.CatchUpEvents, "events each catch-up repetition reads")
	fs.IntVar(&o.RiverMaxWorkers, "river-max-workers", d.RiverMaxWorkers, "River queue MaxWorkers")
	fs.DurationVar(&o.RiverFetchCooldown, "river-fetch-cooldown", 0, "River FetchCooldown (0: River's default, 100 ms)")
	fs.Func("pg-set", "throwaway server: an extra setting name=value, repeatable", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("want name=value, got %q", v)
		}
		settings[k] = val
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: peers [flags] [SCENARIO...] (scenarios: %v; default all)\n", Names())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 || slices.Contains(names, "all") {
		names = Names()
	}
	for _, n := range names {
		if _, ok := Scenarios[n]; !ok {
			return fmt.Errorf("peers: unknown scenario %q (have %v)", n, Names())
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	head := EnvironmentLine{Type: "environment", Scenario: "environment", Machine: ThisMachine(), Peers: peerVersions}
	if *url == "" {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		srv, err := pgserver.Start(sctx, pgserver.Options{Durable: *durable, Settings: settings})
		cancel()
		if err != nil {
			return err
		}
		defer srv.Close()
		*url = srv.URL()
		head.Durable = durable
	}
	env, err := NewEnv(ctx, *url, logger)
	if err != nil {
		return err
	}
	defer env.Close()
	env.QuietWait = *quietWait
	if head.Server, err = env.Server(ctx); err != nil {
		return fmt.Errorf("peers: server info: %w", err)
	}
	enc := json.NewEncoder(stdout)
	if *asJSON {
		if err := enc.Encode(head); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "machine: %s, %d cores, %d MB; %s\n", head.Machine.CPU, head.Machine.Cores, head.Machine.MemoryMB, head.Machine.Go)
		fmt.Fprintf(stdout, "server: PostgreSQL %s; %v\n", head.Server.Version, head.Server.Settings)
	}
	for _, n := range names {
		res, err := Scenarios[n](ctx, env, o)
		if err != nil {
			return err
		}
		for _, r := range res {
			if *asJSON {
				if err := enc.Encode(ResultLine{Type: "result", Result: r}); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintln(stdout, r.String())
		}
	}
	return nil
}

// String renders a one-line summary.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %-14s %8.0f %s/s  CPU/unit %7.1f us client %7.1f us server", r.Scenario, r.Arm, r.PerS, r.Unit, r.ClientCPUUs, r.ServerCPUUs)
	if r.P99Ms > 0 {
		fmt.Fprintf(&b, "  p50 %.1f ms p99 %.1f ms", r.P50Ms, r.P99Ms)
	}
	if r.Ratio > 0 {
		fmt.Fprintf(&b, "  ratio %.2f", r.Ratio)
	}
	if r.Disturbed {
		b.WriteString("  DISTURBED")
	}
	return b.String()
}

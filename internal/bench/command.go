package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"
)

// Report is what Command prints with -json.
type Report struct {
	Machine Machine  `json:"machine"`
	Server  Server   `json:"server"`
	Durable *bool    `json:"durable,omitempty"` // set when Command started an embedded cluster
	Results []Result `json:"results"`
}

// Command implements `bench [flags] SCENARIO...` ("all" runs every
// scenario) for a CLI such as `runner bench`: it parses args, runs the
// scenarios against -url (default $DATABASE_URL) or, when neither is set, a
// throwaway embedded cluster, and prints a table or, with -json, a Report.
// The binary must call MaybeRunChild first thing in main (the latency
// scenario re-executes it).
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		asJSON      = fs.Bool("json", false, "print a JSON report")
		url         = fs.String("url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL; empty starts an embedded cluster)")
		durable     = fs.Bool("durable", false, "embedded cluster: keep fsync, synchronous_commit and full_page_writes on")
		events      = fs.Int("events", 0, "events per repetition (catchup: preloaded log size); 0 = scenario default")
		concurrency = fs.Int("concurrency", 0, "appending goroutines; 0 = scenario default")
		batch       = fs.Int("batch", 0, "events per append (append-batch) or per read (catchup); 0 = default")
		streams     = fs.Int("streams", 0, "distinct streams for single-event appends; 0 = default")
		dataSize    = fs.Int("data-size", 0, "approximate bytes of event data JSON; 0 = default")
		rate        = fs.Float64("rate", 0, "latency: appends per second; 0 = default")
		warmup      = fs.Int("warmup", 0, "warm-up events; 0 = default, negative = none")
		reps        = fs.Int("reps", 0, "measured repetitions per side; 0 = default")
		noNotify    = fs.Bool("no-notify", false, "append, append-batch, import: turn the store's NOTIFY hint off")
		quietWait   = fs.Duration("quiet-wait", 30*time.Second, "before each repetition, wait up to this long for other processes to go idle (0: do not wait)")
		verbose     = fs.Bool("v", false, "log progress to stderr")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bench [flags] SCENARIO... (scenarios: %v, or all)\n", Names())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 {
		fs.Usage()
		return fmt.Errorf("bench: no scenario given")
	}
	if slices.Contains(names, "all") {
		names = Names()
	}
	for _, n := range names {
		if _, ok := scenarios[n]; !ok {
			return fmt.Errorf("bench: unknown scenario %q (have %v)", n, Names())
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	opts := Options{
		Events: *events, Concurrency: *concurrency, BatchSize: *batch, Streams: *streams,
		DataSize: *dataSize, Rate: *rate, Warmup: *warmup, Repetitions: *reps, DisableNotify: *noNotify,
	}

	var rep Report
	rep.Machine = ThisMachine()
	if *url == "" {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		c, err := StartEmbedded(sctx, *durable, logger)
		cancel()
		if err != nil {
			return err
		}
		defer c.Close()
		*url = c.URL("")
		rep.Durable = durable
	}
	env, err := NewEnv(ctx, *url, logger)
	if err != nil {
		return err
	}
	defer env.Close()
	env.QuietWait = *quietWait
	if rep.Server, err = env.Server(ctx); err != nil {
		return fmt.Errorf("bench: server info: %w", err)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "machine: %s, %d cores, %d MB; %s\n", rep.Machine.CPU, rep.Machine.Cores, rep.Machine.MemoryMB, rep.Machine.Go)
		fmt.Fprintf(stdout, "server: PostgreSQL %s; %v\n", rep.Server.Version, rep.Server.Settings)
	}
	for _, n := range names {
		res, err := Run(ctx, env, n, opts)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, res...)
		if !*asJSON {
			for _, r := range res {
				fmt.Fprintln(stdout, r.String())
				fmt.Fprintf(stdout, "    ours:      %s\n", r.Notes)
				if r.Baseline != nil {
					fmt.Fprintf(stdout, "    plain-pgx: %s\n", r.Baseline.Notes)
				}
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return nil
}

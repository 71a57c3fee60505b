package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/causewayhq/causeway/internal/cliflags"
)

// EnvironmentLine is the first line Command prints with -json: the machine
// and the server the results that follow were measured on. Its scenario is
// "environment" and its type "environment", so that every line of the
// output is a JSON object with a scenario.
type EnvironmentLine struct {
	Type     string  `json:"type"`     // "environment"
	Scenario string  `json:"scenario"` // "environment"
	Machine  Machine `json:"machine"`
	Server   Server  `json:"server"`
	Durable  *bool   `json:"durable,omitempty"` // set when Command started an embedded cluster
}

// ResultLine is one measured result as Command prints it with -json: the
// Result's fields (baseline nested) and "type": "result".
type ResultLine struct {
	Type string `json:"type"` // "result"
	Result
}

// Command implements `bench [flags] SCENARIO... [flags]` ("all" runs every
// scenario) for a CLI such as `runner bench`: it parses args (flags may
// come before, between or after the scenario names), runs the scenarios
// against -url (default $DATABASE_URL) or, when neither is set, a
// throwaway embedded cluster, and prints a table or, with -json, JSON
// Lines: an EnvironmentLine, then one ResultLine per result as each
// scenario finishes. The binary must call MaybeRunChild first thing in
// main (the latency scenario re-executes it).
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		asJSON      = fs.Bool("json", false, "print JSON Lines: an environment line, then one line per result")
		url         = fs.String("url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL; empty starts an embedded cluster)")
		durable     = fs.Bool("durable", false, "embedded cluster: keep fsync, synchronous_commit and full_page_writes on")
		events      = fs.Int("events", 0, "events per repetition (catchup, worker-*, replay, rebuild: preloaded log size; saga: sagas); 0 = scenario default")
		concurrency = fs.Int("concurrency", 0, "appending goroutines, the saga executor's concurrency, or the queue consumer's (queue: the plain loop holds as many messages); 0 = scenario default")
		batch       = fs.Int("batch", 0, "events per append (append-batch), per read (catchup), per subscription batch (worker-*, replay, rebuild, saga) or the plain loop's rows per transaction (queue); 0 = default")
		readBatch   = fs.Int("read-batch", 0, "worker-catchup, worker-upsert, replay, rebuild: the worker's ReadBatchSize and the plain reader's batch; 0 = worker default (500)")
		partitions  = fs.Int("partitions", 0, "subscription partitions (worker-catchup: only this count instead of 1 and 8; worker-upsert, replay, rebuild, saga); 0 = default")
		streams     = fs.Int("streams", 0, "distinct streams for single-event appends; 0 = default")
		dataSize    = fs.Int("data-size", 0, "approximate bytes of event data JSON; 0 = default")
		rate        = fs.Float64("rate", 0, "latency, and saga's saga-latency run: appends per second; rebuild: live reads per second; 0 = default")
		warmup      = fs.Int("warmup", 0, "warm-up events; 0 = default, negative = none")
		reps        = fs.Int("reps", 0, "measured repetitions per side; 0 = default")
		noNotify    = fs.Bool("no-notify", false, "append, append-batch, import: turn the store's NOTIFY hint off")
		inFlight    = fs.Int("append-in-flight", 0, "append: the store's group commit bound (append transactions in flight); 0 = default, -1 = group commit off")
		noHandOff   = fs.Bool("no-handoff", false, "saga: no hand-off of new instances from the subscription to the executor (the executor claims them)")
		recInFlight = fs.Int("record-in-flight", 0, "saga: the saga store's group commit bound (record transactions in flight); 0 = default, -1 = group commit off")
		parked      = fs.Int("parked", 0, "saga: sagas parked at a wait step in the saga-parked run; 0 = 100,000")
		quietWait   = fs.Duration("quiet-wait", 30*time.Second, "before each repetition, wait up to this long for other processes to go idle (0: do not wait)")
		verbose     = fs.Bool("v", false, "log progress to stderr")
		cpuProfile  = fs.String("cpuprofile", "", "write a CPU profile of this process to the file (the measured runs are labelled scenario=… side=…: go tool pprof -tagfocus side=ours)")
		settings    = map[string]string{}
	)
	fs.Func("pg-set", "embedded cluster: an extra server setting name=value, repeatable (e.g. shared_preload_libraries=pg_stat_statements for diagnostics)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("want name=value, got %q", v)
		}
		settings[k] = val
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bench SCENARIO... [flags] (scenarios: %v, or all)\n", Names())
		fs.PrintDefaults()
	}
	names, err := cliflags.Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(names) == 0 {
		fs.Usage()
		return &UsageError{Msg: "no scenario given"}
	}
	if slices.Contains(names, "all") {
		names = Names()
	}
	for _, n := range names {
		if _, ok := scenarios[n]; !ok {
			return &UsageError{Msg: fmt.Sprintf("unknown scenario %q (have %v)", n, Names())}
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	opts := Options{
		Events: *events, Concurrency: *concurrency, BatchSize: *batch, ReadBatchSize: *readBatch, Partitions: *partitions, Streams: *streams,
		DataSize: *dataSize, Rate: *rate, Warmup: *warmup, Repetitions: *reps, DisableNotify: *noNotify, AppendInFlight: *inFlight,
		RecordInFlight: *recInFlight, NoHandOff: *noHandOff, Parked: *parked,
	}

	head := EnvironmentLine{Type: "environment", Scenario: "environment", Machine: ThisMachine()}
	if *url == "" {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		c, err := StartEmbedded(sctx, *durable, settings, logger)
		cancel()
		if err != nil {
			return err
		}
		defer c.Close()
		*url = c.URL("")
		head.Durable = durable
	}
	env, err := NewEnv(ctx, *url, logger)
	if err != nil {
		return err
	}
	defer env.Close()
	env.QuietWait = *quietWait
	if head.Server, err = env.Server(ctx); err != nil {
		return fmt.Errorf("bench: server info: %w", err)
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	enc := json.NewEncoder(stdout) // one object per line
	if *asJSON {
		if err := enc.Encode(head); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "machine: %s, %d cores, %d MB; %s\n", head.Machine.CPU, head.Machine.Cores, head.Machine.MemoryMB, head.Machine.Go)
		fmt.Fprintf(stdout, "server: PostgreSQL %s; %v\n", head.Server.Version, head.Server.Settings)
	}
	for _, n := range names {
		res, err := Run(ctx, env, n, opts)
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
			fmt.Fprintf(stdout, "    ours:      %s\n", r.Notes)
			if r.Baseline != nil {
				fmt.Fprintf(stdout, "    plain-pgx: %s\n", r.Baseline.Notes)
			}
		}
	}
	return nil
}

// UsageError is a command-line mistake (an unknown scenario or flag): the
// caller shows it with the usage and exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return "bench: " + e.Msg }

// startCPUProfile profiles this process's CPU into the file until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

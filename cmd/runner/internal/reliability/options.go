package reliability

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/causewayhq/causeway/internal/pgembed"
)

// Fault kinds, as --faults names them.
const (
	FaultKill      = "kill"      // SIGKILL a consumer process
	FaultJoin      = "join"      // start another consumer process
	FaultLeave     = "leave"     // SIGTERM a consumer process: a graceful hand-over
	FaultPGCrash   = "pgcrash"   // SIGKILL the postmaster, then restart it (crash recovery)
	FaultPGRestart = "pgrestart" // fast shutdown and restart of PostgreSQL
	FaultRollback  = "rollback"  // appends inside transactions that roll back
	FaultLongTx    = "longtx"    // transactions that hold the log's horizon for seconds
	FaultPoison    = "poison"    // events whose handlers fail (for good, N times, until fixed)
	FaultOperator  = "operator"  // dead-letter retry/discard and saga retry/resume/cancel
)

// AllFaults lists every fault kind.
var AllFaults = []string{FaultKill, FaultJoin, FaultLeave, FaultPGCrash, FaultPGRestart,
	FaultRollback, FaultLongTx, FaultPoison, FaultOperator}

// ParseFaults parses a --faults value: "all" or a comma-separated list.
func ParseFaults(s string) ([]string, error) {
	if s == "" || s == "all" {
		return slices.Clone(AllFaults), nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(AllFaults, f) {
			return nil, fmt.Errorf("unknown fault %q (have all or %s)", f, strings.Join(AllFaults, ","))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Options configure a run. The zero value of each field means its default.
type Options struct {
	// Duration is how long faults are injected and events appended
	// (default 2m). Settling and checking come after it.
	Duration time.Duration
	// Seed drives every random choice (default: from the clock). Timing is
	// not deterministic, so a seed reproduces the plan, not the interleaving.
	Seed int64
	// Workers is the most consumer processes alive at once (default 3);
	// at least one is always alive.
	Workers int
	// Faults are the enabled fault kinds (default AllFaults).
	Faults []string

	// DatabaseURL runs against an existing server (its schemas Schema and
	// Schema+"_app" are dropped and recreated); PostgreSQL crash and restart
	// faults are then skipped. Empty starts a throwaway embedded cluster,
	// unless Cluster is set.
	DatabaseURL string
	// Cluster is an embedded cluster to run against (tests pass
	// pgtest.StartCluster's); the harness crashes and restarts it.
	Cluster *pgembed.Cluster
	// Schema is Causeway's schema (default "causeway_reliability").
	Schema string

	// Rate is the steady append rate in events/s (default 100), Writers the
	// appending goroutines (default 4) and Streams the streams they share
	// (default 400). Backlog events are appended before the first consumer
	// starts, and bursts of Burst events arrive every 10–25 s (default
	// 10000 and 3000; negative = none).
	Rate    float64
	Writers int
	Streams int
	Backlog int
	Burst   int
	// SagaRate is saga requests per second (default 5).
	SagaRate float64
	// FaultEvery is the mean time between injected faults (default 2.5s).
	FaultEvery time.Duration
	// LeaseTTL is the consumers' partition lease TTL (default 2s).
	LeaseTTL time.Duration
	// SettleTimeout bounds the wait, after Duration, for every subscription
	// to catch up and every saga to finish (default 2m).
	SettleTimeout time.Duration

	// Executable is the binary re-executed as a consumer process; it must
	// call MaybeRunChild first thing (default: os.Executable()).
	Executable string
	// LogDir receives each consumer's log (default: a temporary directory,
	// kept when the run finds violations and removed otherwise).
	LogDir string
	// Progress receives one line per notable step (default: discarded).
	Progress io.Writer
	// Logger receives the harness's diagnostics (default: discarded).
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultDuration      = 2 * time.Minute
	DefaultWorkers       = 3
	DefaultSchema        = "causeway_reliability"
	DefaultRate          = 100
	DefaultWriters       = 4
	DefaultStreams       = 400
	DefaultBacklog       = 10000
	DefaultBurst         = 3000
	DefaultSagaRate      = 5
	DefaultFaultEvery    = 2500 * time.Millisecond
	DefaultLeaseTTL      = 2 * time.Second
	DefaultSettleTimeout = 2 * time.Minute
)

func (o Options) withDefaults() Options {
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Faults == nil {
		o.Faults = slices.Clone(AllFaults)
	}
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Writers <= 0 {
		o.Writers = DefaultWriters
	}
	if o.Streams <= 0 {
		o.Streams = DefaultStreams
	}
	o.Streams = max(o.Streams, o.Writers)
	if o.Backlog == 0 {
		o.Backlog = DefaultBacklog
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.SagaRate <= 0 {
		o.SagaRate = DefaultSagaRate
	}
	if o.FaultEvery <= 0 {
		o.FaultEvery = DefaultFaultEvery
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.SettleTimeout <= 0 {
		o.SettleTimeout = DefaultSettleTimeout
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// enabled reports whether a fault kind is on.
func (o Options) enabled(kind string) bool { return slices.Contains(o.Faults, kind) }

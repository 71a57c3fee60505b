package peers

import (
	"context"
	"fmt"
	"math"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/causewayhq/causeway/internal/benchcpu"
)

// Arm is one contender of a scenario. Run performs one repetition's
// measured work and returns how many units (workflows, events) it handled;
// Prep (untimed, optional) readies a repetition — a fresh schema, an
// engine started — and Post (untimed, optional) tears it down.
type Arm struct {
	Name string
	Prep func(ctx context.Context, rep int) error
	Run  func(ctx context.Context, rep int) (int64, error)
	Post func(rep int) error
}

// rep is one timed repetition of one arm.
type rep struct {
	units    int64
	dur      time.Duration
	cpu      benchcpu.Sample
	attempts int
	// lat holds per-unit latencies when the arm measures them.
	lat []time.Duration
}

func (r rep) rate() float64 {
	if r.dur <= 0 {
		return 0
	}
	return float64(r.units) / r.dur.Seconds()
}

// otherShare is the CPU other processes used during the run, in cores.
func (r rep) otherShare() float64 {
	if r.dur <= 0 {
		return 0
	}
	return r.cpu.Other().Seconds() / r.dur.Seconds()
}

// Disturbed is the CPU share of other processes (in cores) above which a
// repetition is run again, at most MaxAttempts times, and above which the
// kept one is flagged.
const (
	Disturbed   = 0.20
	MaxAttempts = 3
)

// alternate runs reps repetitions of every arm, rotating which goes first,
// each with the same number of attempts rule: before each repetition it
// waits (up to Env.QuietWait) for other processes to go idle; a repetition
// during which they used more than Disturbed of a core is run again, up to
// MaxAttempts, keeping the least disturbed. latOf, if set, collects the
// per-unit latencies of the attempt just run. runs[i] holds arm i's.
func alternate(ctx context.Context, env *Env, scenario string, reps int, latOf func() []time.Duration, arms ...Arm) ([][]rep, error) {
	runs := make([][]rep, len(arms))
	for r := range reps {
		for k := range arms {
			i := (r + k) % len(arms)
			a := arms[i]
			var best rep
			for attempt := 1; ; attempt++ {
				if a.Prep != nil {
					if err := a.Prep(ctx, r); err != nil {
						if a.Post != nil {
							_ = a.Post(r)
						}
						return nil, fmt.Errorf("peers: %s (%s, repetition %d) prepare: %w", scenario, a.Name, r+1, err)
					}
				}
				benchcpu.WaitQuiet(ctx, env.Postmaster, env.QuietWait)
				c0 := benchcpu.Take(env.Postmaster)
				begin := time.Now()
				var (
					n   int64
					err error
				)
				pprof.Do(ctx, pprof.Labels("scenario", scenario, "arm", a.Name), func(ctx context.Context) {
					n, err = a.Run(ctx, r)
				})
				cur := rep{units: n, dur: time.Since(begin), attempts: attempt}
				cur.cpu = benchcpu.Take(env.Postmaster).Sub(c0)
				if latOf != nil {
					cur.lat = latOf()
				}
				if a.Post != nil {
					if perr := a.Post(r); err == nil {
						err = perr
					}
				}
				if err != nil {
					return nil, fmt.Errorf("peers: %s (%s, repetition %d): %w", scenario, a.Name, r+1, err)
				}
				share := cur.otherShare()
				env.Logger.Info("peers: repetition", "scenario", scenario, "arm", a.Name, "rep", r+1, "attempt", attempt,
					"units", n, "seconds", round(cur.dur.Seconds(), 3), "per_s", int64(cur.rate()),
					"client_cpu_us", perUnit(cur.cpu.Self, n), "server_cpu_us", perUnit(cur.cpu.Server, n),
					"other_cpu_pct", int(100*share))
				if attempt == 1 || share < best.otherShare() {
					best = cur
				}
				best.attempts = attempt
				if share <= Disturbed || attempt == MaxAttempts || env.QuietWait <= 0 {
					break
				}
			}
			runs[i] = append(runs[i], best)
		}
	}
	return runs, nil
}

// Result is one arm of one scenario: the median repetition by rate, with
// its CPU per unit.
type Result struct {
	Scenario string  `json:"scenario"`
	Arm      string  `json:"arm"`
	Unit     string  `json:"unit"` // what is counted: workflows, events
	Units    int64   `json:"units"`
	Seconds  float64 `json:"seconds"`
	PerS     float64 `json:"per_s"`
	P50Ms    float64 `json:"p50_ms,omitempty"`
	P99Ms    float64 `json:"p99_ms,omitempty"`
	// CPU per unit in the median repetition, microseconds: this process,
	// the PostgreSQL server's processes, the whole machine.
	ClientCPUUs float64 `json:"client_cpu_us"`
	ServerCPUUs float64 `json:"server_cpu_us"`
	AllCPUUs    float64 `json:"all_cpu_us"`
	// OtherCPUPct is the share of one core other processes used during
	// the median repetition; Disturbed is set when any kept repetition of
	// this arm had them above 20% of a core (a noisy figure).
	OtherCPUPct float64 `json:"other_cpu_pct"`
	Disturbed   bool    `json:"disturbed"`
	// Ratio is PerS over the Causeway arm's (1 for Causeway).
	Ratio float64            `json:"ratio_to_causeway,omitempty"`
	Extra map[string]float64 `json:"extra,omitempty"`
	Notes string             `json:"notes"`
}

// summarize reports an arm's median repetition by rate (latency runs: by
// p99) and lists every repetition in Notes.
func summarize(scenario, arm, unit string, runs []rep, notes string, byLatency bool) Result {
	key := func(r rep) float64 { return r.rate() }
	if byLatency {
		key = func(r rep) float64 { return float64(Percentile(r.lat, 99)) }
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b rep) int {
		switch ka, kb := key(a), key(b); {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	med := sorted[len(sorted)/2]
	res := Result{
		Scenario: scenario, Arm: arm, Unit: unit,
		Units:       med.units,
		Seconds:     round(med.dur.Seconds(), 3),
		PerS:        round(med.rate(), 1),
		ClientCPUUs: perUnit(med.cpu.Self, med.units),
		ServerCPUUs: perUnit(med.cpu.Server, med.units),
		AllCPUUs:    perUnit(med.cpu.Machine, med.units),
		OtherCPUPct: round(100*med.otherShare(), 1),
	}
	if len(med.lat) > 0 {
		res.P50Ms, res.P99Ms = ms(Percentile(med.lat, 50)), ms(Percentile(med.lat, 99))
		res.Extra = map[string]float64{"p90_ms": ms(Percentile(med.lat, 90)), "max_ms": ms(Percentile(med.lat, 100))}
	}
	var each []string
	retried := 0
	for _, r := range runs {
		s := fmt.Sprintf("%.0f/s", r.rate())
		if len(r.lat) > 0 {
			s = fmt.Sprintf("p99 %.1f ms", ms(Percentile(r.lat, 99)))
		}
		if r.otherShare() > Disturbed {
			res.Disturbed = true
			s += fmt.Sprintf(" (DISTURBED: other processes %.0f%% of a core)", 100*r.otherShare())
		}
		each = append(each, s)
		retried += r.attempts - 1
	}
	n := fmt.Sprintf("median of %d repetitions (in run order: %s)", len(runs), strings.Join(each, ", "))
	if retried > 0 {
		n += fmt.Sprintf("; %d attempt(s) re-run because other processes disturbed them", retried)
	}
	if notes != "" {
		n = notes + "; " + n
	}
	res.Notes = n
	return res
}

// withRatios sets every result's Ratio to its rate over the first's (the
// Causeway arm's).
func withRatios(rs []Result) []Result {
	if len(rs) == 0 || rs[0].PerS <= 0 {
		return rs
	}
	for i := range rs {
		rs[i].Ratio = round(rs[i].PerS/rs[0].PerS, 3)
	}
	return rs
}

func perUnit(d time.Duration, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return round(float64(d)/float64(time.Microsecond)/float64(n), 1)
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Percentile returns the p-th percentile (nearest rank) of ds, 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := min(max(int(math.Ceil(p/100*float64(len(s)))), 1), len(s))
	return s[rank-1]
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

package bench

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/causewayhq/causeway/internal/benchcpu"
)

// Result is one measured scenario. Baseline is the plain-pgx ceiling measured
// in the same run against the same server; Ratio is EventsPerS divided by the
// baseline's (throughput scenarios only).
type Result struct {
	Scenario   string  `json:"scenario"`
	Events     int64   `json:"events"`
	Seconds    float64 `json:"seconds"`
	EventsPerS float64 `json:"events_per_s"`
	P50Ms      float64 `json:"p50_ms,omitempty"`
	P99Ms      float64 `json:"p99_ms,omitempty"`
	Baseline   *Result `json:"baseline,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	// Extra holds scenario-specific figures (replay: memory; saga: other
	// latencies), named with their unit.
	Extra map[string]float64 `json:"extra,omitempty"`
	Notes string             `json:"notes"`
}

// String renders a one-line summary.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s %9d events %8.2fs %10.0f ev/s", r.Scenario, r.Events, r.Seconds, r.EventsPerS)
	if r.P50Ms > 0 || r.P99Ms > 0 {
		fmt.Fprintf(&b, "  p50 %.2f ms  p99 %.2f ms", r.P50Ms, r.P99Ms)
	}
	if r.Baseline != nil {
		fmt.Fprintf(&b, "  | plain-pgx %10.0f ev/s", r.Baseline.EventsPerS)
		if r.Baseline.P50Ms > 0 || r.Baseline.P99Ms > 0 {
			fmt.Fprintf(&b, "  p50 %.2f ms  p99 %.2f ms", r.Baseline.P50Ms, r.Baseline.P99Ms)
		}
		if r.Ratio > 0 {
			fmt.Fprintf(&b, "  ratio %.2f", r.Ratio)
		}
	}
	return b.String()
}

// run is one timed repetition of one side of a scenario.
type run struct {
	events int64
	dur    time.Duration
	cpu    benchcpu.Sample // CPU used during the repetition
	waited time.Duration   // waiting for other processes to go quiet before it
	// attempts is how many times the repetition was run (more than one
	// when other processes disturbed it).
	attempts int
}

// otherShare is the CPU other processes used during the run, in cores.
func (r run) otherShare() float64 {
	if r.dur <= 0 {
		return 0
	}
	return r.cpu.Other().Seconds() / r.dur.Seconds()
}

func (r run) rate() float64 {
	if r.dur <= 0 {
		return 0
	}
	return float64(r.events) / r.dur.Seconds()
}

// summarize turns repetitions into a Result: the median repetition by
// throughput is reported, every repetition's rate is listed in Notes.
func summarize(scenario string, runs []run, notes string) Result {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b run) int {
		switch ra, rb := a.rate(), b.rate(); {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	med := sorted[len(sorted)/2]
	rates := make([]string, len(runs))
	retried := 0
	for i, r := range runs {
		rates[i] = fmt.Sprintf("%.0f", r.rate())
		retried += max(r.attempts-1, 0)
	}
	n := fmt.Sprintf("median of %d repetitions (events/s in run order: %s)", len(runs), strings.Join(rates, ", "))
	if c := med.cpu; c.Machine > 0 && med.events > 0 {
		per := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(med.events) }
		n += fmt.Sprintf("; CPU per event in that run: %.1f us client", per(c.Self))
		if c.Server > 0 {
			n += fmt.Sprintf(", %.1f us server", per(c.Server))
		}
		n += fmt.Sprintf(", %.1f us in all (%.0f%% of %d cores busy; other processes %.0f%% of one core)",
			per(c.Machine), 100*c.Machine.Seconds()/med.dur.Seconds()/float64(runtime.NumCPU()), runtime.NumCPU(), 100*med.otherShare())
	}
	if retried > 0 {
		n += fmt.Sprintf("; %d repetition(s) re-run because other processes disturbed them", retried)
	}
	if notes != "" {
		n = notes + "; " + n
	}
	return Result{
		Scenario:   scenario,
		Events:     med.events,
		Seconds:    round(med.dur.Seconds(), 4),
		EventsPerS: round(med.rate(), 1),
		Notes:      n,
	}
}

// withBaseline attaches the ceiling and the ratio, and states the goal.
func withBaseline(ours, base Result, goal float64) Result {
	b := base
	ours.Baseline = &b
	if base.EventsPerS > 0 {
		ours.Ratio = round(ours.EventsPerS/base.EventsPerS, 3)
	}
	if goal > 0 {
		verdict := "met"
		if ours.Ratio < goal {
			verdict = "MISSED"
		}
		ours.Notes += fmt.Sprintf("; goal ratio >= %.2f: %s", goal, verdict)
	}
	return ours
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method; ds need not be sorted. It returns 0 for no samples.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

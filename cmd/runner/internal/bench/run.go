package bench

import (
	"context"
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/causewayhq/causeway/internal/benchcpu"
)

// ScenarioFunc runs one scenario and returns its results, each with its
// plain-pgx Baseline (latency returns two: with notifications and polling
// only).
type ScenarioFunc func(ctx context.Context, env *Env, opts Options) ([]Result, error)

var scenarios = map[string]ScenarioFunc{
	ScenarioAppend:      one(Append),
	ScenarioAppendBatch: one(AppendBatch),
	ScenarioImport:      one(Import),
	ScenarioCatchUp:     one(CatchUp),
	ScenarioLatency:     Latency,

	ScenarioWorkerCatchUp: WorkerCatchUp,
	ScenarioWorkerUpsert:  one(WorkerUpsert),
	ScenarioReplay:        one(Replay),
	ScenarioSaga:          Saga,
	ScenarioQueue:         Queue,
	ScenarioRebuild:       one(Rebuild),

	ScenarioDeadLetters: DeadLetters,
	ScenarioCatchUpSize: CatchUpSize,
	ScenarioFanout:      Fanout,
}

func one(f func(context.Context, *Env, Options) (Result, error)) ScenarioFunc {
	return func(ctx context.Context, env *Env, opts Options) ([]Result, error) {
		r, err := f(ctx, env, opts)
		if err != nil {
			return nil, err
		}
		return []Result{r}, nil
	}
}

// Names lists the scenarios in the order Run("all") runs them.
func Names() []string {
	return []string{ScenarioAppend, ScenarioAppendBatch, ScenarioImport, ScenarioCatchUp, ScenarioLatency,
		ScenarioWorkerCatchUp, ScenarioWorkerUpsert, ScenarioReplay, ScenarioSaga, ScenarioQueue, ScenarioRebuild, ScenarioDeadLetters, ScenarioCatchUpSize, ScenarioFanout}
}

// Run runs the named scenario.
func Run(ctx context.Context, env *Env, name string, opts Options) ([]Result, error) {
	f, ok := scenarios[name]
	if !ok {
		return nil, fmt.Errorf("bench: unknown scenario %q (have %v)", name, Names())
	}
	env.Logger.Info("bench: scenario start", "scenario", name)
	begin := time.Now()
	res, err := f(ctx, env, opts)
	env.Logger.Info("bench: scenario done", "scenario", name, "elapsed", time.Since(begin).Round(time.Millisecond), "err", err)
	return res, err
}

// side is one contender of a comparison: run performs the measured work of
// one repetition and returns how many events it handled; prep, if set, is
// called (untimed) before every attempt at a repetition, and post, if set,
// after it (untimed: stopping a worker, say), with the attempt's error.
type side struct {
	name string
	run  func(ctx context.Context, rep int) (int64, error)
	prep func(rep int)
	post func(rep int) error
}

// disturbed is the CPU share of other processes (in cores) above which a
// repetition is repeated, at most maxAttempts times in all.
const (
	disturbed   = 0.20
	maxAttempts = 3
)

// alternate runs reps repetitions of every side, rotating which goes first
// (with two sides: ours first in the 1st, 3rd, … repetitions, plain-pgx in
// the others), and times each. Before each repetition it waits for other
// processes to go quiet (Env.QuietWait); a repetition during which other
// processes still used more than 20% of a core is run again, up to three
// attempts, keeping the least disturbed. runs[i] holds side i's
// repetitions.
func alternate(ctx context.Context, env *Env, scenario string, reps int, sides ...side) ([][]run, error) {
	runs := make([][]run, len(sides))
	for rep := range reps {
		for k := range sides {
			i := (rep + k) % len(sides)
			s := sides[i]
			var best run
			for attempt := 1; ; attempt++ {
				if s.prep != nil {
					s.prep(rep)
				}
				waited := benchcpu.WaitQuiet(ctx, env.Postmaster, env.QuietWait)
				c0 := benchcpu.Take(env.Postmaster)
				begin := time.Now()
				var (
					n   int64
					err error
				)
				// Labelled so that a CPU profile (-cpuprofile) of a run can
				// be split by side: go tool pprof -tagfocus side=ours.
				pprof.Do(ctx, pprof.Labels("scenario", scenario, "side", s.name), func(ctx context.Context) {
					n, err = s.run(ctx, rep)
				})
				r := run{events: n, dur: time.Since(begin), waited: waited, attempts: attempt}
				r.cpu = benchcpu.Take(env.Postmaster).Sub(c0)
				if s.post != nil {
					if perr := s.post(rep); err == nil {
						err = perr
					}
				}
				if err != nil {
					return nil, fmt.Errorf("bench: %s (%s, repetition %d): %w", scenario, s.name, rep+1, err)
				}
				share := r.otherShare()
				env.Logger.Info("bench: repetition", "scenario", scenario, "side", s.name, "rep", rep+1, "attempt", attempt,
					"events", n, "seconds", round(r.dur.Seconds(), 3), "events_per_s", int64(r.rate()),
					"client_cpu_us", cpuPerEvent(r.cpu.Self, n), "server_cpu_us", cpuPerEvent(r.cpu.Server, n),
					"all_cpu_us", cpuPerEvent(r.cpu.Machine, n), "other_cpu_pct", int(100*share),
					"waited_quiet", waited.Round(time.Millisecond))
				if attempt == 1 || share < best.otherShare() {
					best = r
				}
				best.attempts = attempt
				if share <= disturbed || attempt == maxAttempts || env.QuietWait <= 0 {
					break
				}
			}
			runs[i] = append(runs[i], best)
		}
	}
	return runs, nil
}

func cpuPerEvent(d time.Duration, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return round(float64(d)/float64(time.Microsecond)/float64(n), 1)
}

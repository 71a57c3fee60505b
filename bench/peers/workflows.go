package peers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The durable-workflow scenarios: a three-step workflow (reserve, charge,
// ship) whose steps do nothing (workflow-noop) or one INSERT each
// (workflow-insert), run by Causeway sagas, DBOS Transact workflows and
// River chained jobs. Throughput starts Options.Workflows workflows from
// Options.Concurrency goroutines inside the clock and stops it when every
// one has completed; latency starts them at Options.Rate per second and
// times each from just before its start to its completion being reported.

// engine is one arm's running workflow system: Start durably starts
// workflow n; the engine calls done(n) when workflow n has completed (its
// completion committed).
type engine interface {
	Start(ctx context.Context, n int64) error
	// Steps is the schema-qualified table the insert variant's steps
	// write to.
	Steps() string
	Close() error
}

// newEngine opens an engine on a fresh schema; insert makes every step
// INSERT one row into the arm's steps table.
type newEngine func(ctx context.Context, env *Env, opts Options, insert bool, done func(n int64)) (engine, error)

// workflowArms are the arms in report order (Causeway first: ratios are
// to it).
var workflowArms = []struct {
	name string
	open newEngine
}{
	{"causeway", openCauseway},
	{"dbos", openDBOS},
	{"river", openRiver},
}

// stepsDDL is the table the insert variant's steps write to.
const stepsDDL = `CREATE TABLE %s (id bigserial PRIMARY KEY, workflow bigint NOT NULL, step text NOT NULL, at timestamptz NOT NULL DEFAULT now())`

// stallTimeout fails a run in which no workflow completed for this long.
const stallTimeout = 60 * time.Second

// tracker counts completions and records their latencies.
type tracker struct {
	want  int64
	count atomic.Int64
	all   chan struct{}
	warm  int64 // workflows below this index are not timed

	mu   sync.Mutex
	sent map[int64]time.Time
	lat  []time.Duration
}

func newTracker(want, warm int64) *tracker {
	return &tracker{want: want, warm: warm, all: make(chan struct{}), sent: map[int64]time.Time{}}
}

func (t *tracker) started(n int64, at time.Time) {
	t.mu.Lock()
	t.sent[n] = at
	t.mu.Unlock()
}

func (t *tracker) done(n int64) {
	now := time.Now()
	t.mu.Lock()
	if s, ok := t.sent[n]; ok && n >= t.warm {
		t.lat = append(t.lat, now.Sub(s))
	}
	t.mu.Unlock()
	if t.count.Add(1) == t.want {
		close(t.all)
	}
}

func (t *tracker) latencies() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Duration(nil), t.lat...)
}

// wait waits until every workflow completed, failing on a stall.
func (t *tracker) wait(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastN := time.Now(), int64(-1)
	for {
		select {
		case <-t.all:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if n := t.count.Load(); n != lastN {
				last, lastN = time.Now(), n
			} else if time.Since(last) > stallTimeout {
				return fmt.Errorf("peers: %d of %d workflows completed, none for %v", n, t.want, stallTimeout)
			}
		}
	}
}

// Workflows runs the durable-workflow scenario (insert: one INSERT per
// step): a throughput result and a latency result per arm.
func Workflows(ctx context.Context, env *Env, opts Options, insert bool) ([]Result, error) {
	opts = opts.withDefaults()
	opts.LatencyWarmup = max(opts.LatencyWarmup, 0)
	scenario := "workflow-noop"
	shape := "3 steps with no-op actions"
	if insert {
		scenario, shape = "workflow-insert", "3 steps, each INSERTing one row"
	}
	var (
		eng engine
		tr  *tracker
	)
	arms := func(latency bool) []Arm {
		var out []Arm
		for _, a := range workflowArms {
			out = append(out, Arm{
				Name: a.name,
				Prep: func(ctx context.Context, _ int) error {
					n, warm := int64(opts.Workflows), int64(0)
					if latency {
						n, warm = int64(opts.LatencyWorkflows+opts.LatencyWarmup), int64(opts.LatencyWarmup)
					}
					tr = newTracker(n, warm)
					var err error
					eng, err = a.open(ctx, env, opts, insert, tr.done)
					return err
				},
				Run: func(ctx context.Context, _ int) (int64, error) {
					if latency {
						return steady(ctx, eng, tr, opts.Rate)
					}
					return burst(ctx, eng, tr, opts.Concurrency)
				},
				Post: func(int) error {
					if eng == nil {
						return nil
					}
					var err error
					if insert {
						err = checkSteps(env, eng.Steps(), 3*tr.want)
					}
					err = errors.Join(err, eng.Close())
					eng = nil
					return err
				},
			})
		}
		return out
	}
	runs, err := alternate(ctx, env, scenario, opts.Reps, nil, arms(false)...)
	if err != nil {
		return nil, err
	}
	var out []Result
	var thr []Result
	for i, a := range workflowArms {
		thr = append(thr, summarize(scenario, a.name, "workflows", runs[i], fmt.Sprintf(
			"%s; %d workflows started from %d goroutines inside the clock, clock stopped when the last completed; %s",
			shape, opts.Workflows, opts.Concurrency, armNote(a.name, opts, insert)), false))
	}
	out = append(out, withRatios(thr)...)

	lruns, err := alternate(ctx, env, scenario+"-latency", opts.Reps, func() []time.Duration { return tr.latencies() }, arms(true)...)
	if err != nil {
		return nil, err
	}
	var lat []Result
	for i, a := range workflowArms {
		r := summarize(scenario+"-latency", a.name, "workflows", lruns[i], fmt.Sprintf(
			"%s; %d workflows timed after %d warm-up, started at %.0f/s; p50/p99 end to end: from just before the start to the completion reported (committed); %s",
			shape, opts.LatencyWorkflows, opts.LatencyWarmup, opts.Rate, armNote(a.name, opts, insert)), true)
		lat = append(lat, r)
	}
	return append(out, lat...), nil
}

// checkSteps checks, after a run, that the steps did their INSERTs: want
// rows, no more and no fewer.
func checkSteps(env *Env, table string, want int64) error {
	var got int64
	if err := env.Admin.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&got); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("peers: %s has %d rows, want %d (3 per workflow)", table, got, want)
	}
	return nil
}

// burst starts n workflows from conc goroutines and waits for them all.
func burst(ctx context.Context, eng engine, tr *tracker, conc int) (int64, error) {
	var next atomic.Int64
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1) - 1
				if n >= tr.want {
					return
				}
				if err := eng.Start(ctx, n); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return tr.want, tr.wait(ctx)
}

// steady starts the workflows one by one at rate per second (a start that
// falls behind does not shift the later ones) and waits for them all; it
// returns the timed workflows.
func steady(ctx context.Context, eng engine, tr *tracker, rate float64) (int64, error) {
	interval := time.Duration(float64(time.Second) / rate)
	begin := time.Now()
	for n := range tr.want {
		if d := time.Until(begin.Add(time.Duration(n) * interval)); d > 0 {
			time.Sleep(d)
		}
		tr.started(n, time.Now())
		if err := eng.Start(ctx, n); err != nil {
			return 0, err
		}
	}
	if err := tr.wait(ctx); err != nil {
		return 0, err
	}
	if got := int64(len(tr.latencies())); got != tr.want-tr.warm {
		return 0, fmt.Errorf("peers: timed %d of %d workflows", got, tr.want-tr.warm)
	}
	return tr.want - tr.warm, nil
}

// armNote describes how an arm runs the workflow.
func armNote(arm string, opts Options, insert bool) string {
	switch arm {
	case "causeway":
		s := fmt.Sprintf("Causeway: saga started by an OrderPlaced event (Store.Append to a new stream), saga.Subscription in a worker (8 partitions) + saga.Executor (Concurrency %d) as runtime.Run wires them, 20-connection pool", opts.Concurrency)
		if insert {
			s += "; each step INSERTs through the pool (autocommit), then the executor records it"
		}
		return s
	case "dbos":
		s := "DBOS: dbos.RunWorkflow (direct, in-process), each step dbos.RunAsStep, defaults (20-connection system pool, ours)"
		if insert {
			s = "DBOS: dbos.RunWorkflow (direct, in-process), each step dbos.RunAsTransaction on a data source sharing the system pool (the INSERT and the step's checkpoint in one transaction), defaults (20-connection pool)"
		}
		return s
	case "river":
		s := fmt.Sprintf("River: 3 job kinds chained, each worker inserting the next with InsertTx and completing itself with JobCompleteTx in one transaction (River's transactional pattern), queue MaxWorkers %d", opts.RiverMaxWorkers)
		if opts.RiverFetchCooldown > 0 {
			s += fmt.Sprintf(", FetchCooldown %v", opts.RiverFetchCooldown)
		} else {
			s += ", River's default FetchCooldown (100 ms)"
		}
		if insert {
			s += "; the step's INSERT in that transaction"
		}
		return s + "; completion seen through Subscribe(EventKindJobCompleted), 20-connection pool"
	}
	return ""
}

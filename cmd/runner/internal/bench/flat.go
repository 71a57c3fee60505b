package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
)

// Flat-cost scenarios: does a cost per unit stay the same as the data
// grows? Each compares two sizes in one run, arms alternating, and reports
// CPU per unit (client, server and both) beside the rates.
//
//   - catchup-size: a worker subscription (no-op handler, Transactional)
//     catching up with a log of 100,000 events and with one of
//     Options.Events (default 3,000,000) events, two fixtures on one server.
//   - fanout: one worker catching up Options.Events events (default 50,000)
//     with 1 subscription and with 32 subscriptions on the same log: CPU per
//     delivery.

// Flat-cost scenario settings.
const (
	catchUpSizeSmall = 100_000
	fanoutWide       = 32
)

// flatCost is the CPU per unit of the median run (by rate) of a side.
type flatCost struct {
	client, server, all float64 // µs per unit, median run by rate
	rate                float64
}

func medianCost(runs []run) flatCost {
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
	m := sorted[len(sorted)/2]
	return flatCost{
		client: cpuPerEvent(m.cpu.Self, m.events),
		server: cpuPerEvent(m.cpu.Server, m.events),
		all:    cpuPerEvent(m.cpu.Self+m.cpu.Server, m.events),
		rate:   m.rate(),
	}
}

// flatResults turns the two sides of a flat-cost comparison into results:
// the large side carries the small one as Baseline, the ratio of CPU per
// unit (client + server) in Extra, and the verdict against goal.
func flatResults(name string, small, large []run, smallNotes, largeNotes string, goal float64) []Result {
	s := summarize(name+"/small", small, smallNotes)
	l := summarize(name, large, largeNotes)
	cs, cl := medianCost(small), medianCost(large)
	for _, x := range []struct {
		r *Result
		c flatCost
	}{{&s, cs}, {&l, cl}} {
		x.r.Extra = map[string]float64{"client_cpu_us": x.c.client, "server_cpu_us": x.c.server, "cpu_us": x.c.all}
	}
	ratio := 0.0
	if cs.all > 0 {
		ratio = round(cl.all/cs.all, 3)
	}
	l.Extra["cpu_ratio"] = ratio
	verdict := "met"
	if ratio > 1+goal {
		verdict = "MISSED"
	}
	l.Notes += fmt.Sprintf("; CPU per unit (client+server) %.1f us against %.1f us: x%.2f; goal within %.0f%%: %s", cl.all, cs.all, ratio, 100*goal, verdict)
	b := s
	l.Baseline = &b
	if s.EventsPerS > 0 {
		l.Ratio = round(l.EventsPerS/s.EventsPerS, 3)
	}
	return []Result{l}
}

// CatchUpSize runs the catchup-size scenario.
func CatchUpSize(ctx context.Context, env *Env, opts Options) ([]Result, error) {
	opts = opts.withDefaults(ScenarioCatchUpSize)
	sizes := []int{catchUpSizeSmall, opts.Events}
	ws := make([]*WorkerCatchUpWorkload, len(sizes))
	for i, n := range sizes {
		o := opts
		o.Events = n
		wf, err := newWorkerFixture(ctx, env, ScenarioCatchUpSize, n, o)
		if err != nil {
			return nil, err
		}
		defer wf.close()
		ws[i] = &WorkerCatchUpWorkload{wf: wf, env: env, batch: opts.BatchSize}
	}
	if opts.Warmup >= 0 {
		for _, w := range ws {
			if _, err := w.Plain(ctx); err != nil {
				return nil, fmt.Errorf("bench: %s warm-up: %w", ScenarioCatchUpSize, err)
			}
			if _, err := w.Ours(ctx, opts.Partitions); err != nil {
				return nil, fmt.Errorf("bench: %s warm-up: %w", ScenarioCatchUpSize, err)
			}
		}
	}
	sides := make([]side, len(ws))
	for i, w := range ws {
		ws := &workerSide{start: func(ctx context.Context) (*CatchUpRun, error) { return w.Start(ctx, opts.Partitions) }}
		sides[i] = ws.side()
		sides[i].name = strconv.Itoa(sizes[i])
	}
	runs, err := alternate(ctx, env, ScenarioCatchUpSize, opts.Repetitions, sides...)
	if err != nil {
		return nil, err
	}
	note := func(n int) string {
		return fmt.Sprintf("worker subscription catching up a log of %d events (%d-byte data, streams of %d), %d partitions, no-op handler, "+
			"Transactional with checkpoint.NewPostgres, BatchSize %d, ReadBatchSize %d; a fresh subscription per repetition; CPU per event",
			n, opts.DataSize, ImportStreamLength, opts.Partitions, opts.BatchSize, opts.ReadBatchSize)
	}
	return flatResults(fmt.Sprintf("%s-%d-vs-%d", ScenarioCatchUpSize, sizes[0], sizes[1]), runs[0], runs[1],
		note(sizes[0]), note(sizes[1]), 0.20), nil
}

// Fanout runs the fanout scenario.
func Fanout(ctx context.Context, env *Env, opts Options) ([]Result, error) {
	opts = opts.withDefaults(ScenarioFanout)
	wf, err := newWorkerFixture(ctx, env, ScenarioFanout, opts.Events, opts)
	if err != nil {
		return nil, err
	}
	defer wf.close()
	var seq atomic.Int64
	start := func(ctx context.Context, subs int) (*CatchUpRun, error) {
		list := make([]worker.Subscription, subs)
		trackers := make([]*catchUpTracker, subs)
		for i := range list {
			name := "bench-fanout-" + strconv.FormatInt(seq.Add(1), 10)
			list[i] = worker.NewSubscription(name,
				worker.Partitions(opts.Partitions),
				worker.Mode(worker.Transactional),
				worker.BatchSize(opts.BatchSize),
				worker.OnAny(func(context.Context, *worker.Delivery) error { return nil }),
			)
			trackers[i] = newCatchUpTracker(name, opts.Partitions, wf.head, wf.load.Loaded())
		}
		byName := make(map[string]*catchUpTracker, subs)
		for _, t := range trackers {
			byName[t.sub] = t
		}
		hooks := worker.Hooks{Committed: func(sub string, partition int, pos eventlog.Position, n int) {
			if t := byName[sub]; t != nil {
				t.committed(sub, partition, pos, n)
			}
		}}
		r, err := startWorker(wf.workerConfig(env, hooks), list...)
		if err != nil {
			return nil, err
		}
		var events int64
		for _, t := range trackers {
			if err := waitCaughtUp(ctx, r, t); err != nil {
				r.stop()
				return nil, err
			}
			events += t.events.Load()
		}
		return &CatchUpRun{Events: events, w: r}, nil
	}
	if opts.Warmup >= 0 {
		if _, err := wf.load.Plain(ctx, int(wf.load.Loaded())); err != nil {
			return nil, fmt.Errorf("bench: %s warm-up: %w", ScenarioFanout, err)
		}
		r, err := start(ctx, fanoutWide)
		if err != nil {
			return nil, fmt.Errorf("bench: %s warm-up: %w", ScenarioFanout, err)
		}
		r.Stop()
	}
	counts := []int{1, fanoutWide}
	sides := make([]side, len(counts))
	for i, n := range counts {
		ws := &workerSide{start: func(ctx context.Context) (*CatchUpRun, error) { return start(ctx, n) }}
		sides[i] = ws.side()
		sides[i].name = strconv.Itoa(n) + "-subscriptions"
	}
	runs, err := alternate(ctx, env, ScenarioFanout, opts.Repetitions, sides...)
	if err != nil {
		return nil, err
	}
	note := func(n int) string {
		return fmt.Sprintf("%d subscription(s) in one worker catching up the same log of %d events (%d-byte data), %d partitions each, no-op handler, "+
			"Transactional, BatchSize %d, ReadBatchSize %d; events counted are deliveries (subscriptions x events); fresh subscriptions per repetition",
			n, wf.load.Loaded(), opts.DataSize, opts.Partitions, opts.BatchSize, opts.ReadBatchSize)
	}
	return flatResults(fmt.Sprintf("%s-1-vs-%d", ScenarioFanout, fanoutWide), runs[0], runs[1], note(1), note(fanoutWide), 0.20), nil
}

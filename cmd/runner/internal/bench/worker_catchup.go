package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/causewayhq/causeway/worker"
)

// WorkerCatchUpWorkload is the worker-catchup scenario's load: a worker
// subscription with a no-op handler in transactional mode catching up
// with a preloaded log, against the catchup scenario's plain keyset scan
// of the same rows.
type WorkerCatchUpWorkload struct {
	wf    *workerFixture
	env   *Env
	batch int
	seq   atomic.Int64 // names each run's subscription
}

// NewWorkerCatchUpWorkload preloads a fresh fixture with opts.Events
// events. Close drops it.
func NewWorkerCatchUpWorkload(ctx context.Context, env *Env, opts Options) (*WorkerCatchUpWorkload, error) {
	opts = opts.withDefaults(ScenarioWorkerCatchUp)
	wf, err := newWorkerFixture(ctx, env, ScenarioWorkerCatchUp, opts.Events, opts)
	if err != nil {
		return nil, err
	}
	return &WorkerCatchUpWorkload{wf: wf, env: env, batch: opts.BatchSize}, nil
}

// Close drops the fixture.
func (w *WorkerCatchUpWorkload) Close() { w.wf.close() }

// Loaded is the number of preloaded events.
func (w *WorkerCatchUpWorkload) Loaded() int64 { return w.wf.load.Loaded() }

// Start runs a new subscription (a fresh name, so from the start of the
// log) with a no-op handler on the given partitions until every
// partition's checkpoint has reached the head, and returns the running
// worker: the time Start takes is the catch-up's, from worker start until
// the last partition reached the head.
func (w *WorkerCatchUpWorkload) Start(ctx context.Context, partitions int) (*CatchUpRun, error) {
	sub := worker.NewSubscription("bench-catchup-"+strconv.FormatInt(w.seq.Add(1), 10),
		worker.Partitions(partitions),
		worker.Mode(worker.Transactional),
		worker.BatchSize(w.batch),
		worker.OnAny(func(context.Context, *worker.Delivery) error { return nil }),
	)
	return w.wf.catchUp(ctx, w.env, sub)
}

// Ours runs Start and stops the worker; it returns the events committed.
func (w *WorkerCatchUpWorkload) Ours(ctx context.Context, partitions int) (int64, error) {
	r, err := w.Start(ctx, partitions)
	if err != nil {
		return 0, err
	}
	r.Stop()
	return r.Events, nil
}

// Plain reads the whole log with the plain keyset scan in batches of the
// worker's ReadBatchSize.
func (w *WorkerCatchUpWorkload) Plain(ctx context.Context) (int64, error) {
	return w.wf.load.Plain(ctx, int(w.wf.load.Loaded()))
}

// WorkerCatchUp measures a worker subscription with a no-op handler in
// transactional mode (checkpoint.NewPostgres) catching up with a preloaded
// log at 1 and 8 partitions (or Options.Partitions), from worker start
// until every partition's checkpoint reached the head, against a plain
// keyset scan of the same rows. It returns worker-catchup-p1 and
// worker-catchup-p8.
func WorkerCatchUp(ctx context.Context, env *Env, opts Options) ([]Result, error) {
	counts := []int{1, 8}
	if opts.Partitions > 0 {
		counts = []int{opts.Partitions}
	}
	opts = opts.withDefaults(ScenarioWorkerCatchUp)
	w, err := NewWorkerCatchUpWorkload(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if opts.Warmup >= 0 {
		// One plain pass brings the table into memory; one worker pass warms
		// the pool's connections (prepared statements) and the checkpoint
		// tables.
		if _, err := w.Plain(ctx); err != nil {
			return nil, fmt.Errorf("bench: worker-catchup warm-up: %w", err)
		}
		if _, err := w.Ours(ctx, counts[len(counts)-1]); err != nil {
			return nil, fmt.Errorf("bench: worker-catchup warm-up: %w", err)
		}
	}
	var out []Result
	for _, parts := range counts {
		name := fmt.Sprintf("%s-p%d", ScenarioWorkerCatchUp, parts)
		ours := &workerSide{start: func(ctx context.Context) (*CatchUpRun, error) { return w.Start(ctx, parts) }}
		runs, err := alternate(ctx, env, name, opts.Repetitions,
			withStatementStats(env, name+"/ours", ours.side()),
			withStatementStats(env, name+"/plain-pgx", side{name: "plain-pgx", run: func(ctx context.Context, _ int) (int64, error) { return w.Plain(ctx) }}))
		if err != nil {
			return nil, err
		}
		shape := fmt.Sprintf("%d preloaded events (%d-byte data) in streams of %d", w.Loaded(), opts.DataSize, ImportStreamLength)
		o := summarize(name, runs[0], fmt.Sprintf(
			"worker subscription, %d partition(s), no-op handler, Transactional with checkpoint.NewPostgres, BatchSize %d, ReadBatchSize %d; "+
				"timed from worker start until every partition's checkpoint reached the head (Hooks.Committed); "+
				"a fresh subscription per repetition; events per checkpoint transaction by attempt: %v; "+
				"ms from the last event's commit until the last partition's checkpoint reached the head by attempt: %v; %s",
			parts, opts.BatchSize, opts.ReadBatchSize, ours.perTx, ours.tails, shape))
		b := summarize(name+"/plain-pgx", runs[1], fmt.Sprintf(
			"keyset scan WHERE (tx_id, position) > ($1,$2) ORDER BY tx_id, position LIMIT %d on the store's table, no horizon, no transactions; %s",
			opts.ReadBatchSize, shape))
		out = append(out, withBaseline(o, b, 0.80)) // issue 14, point 3
	}
	return out, nil
}

// withStatementStats logs a side's statements per event after each of its
// repetitions when the server loads pg_stat_statements (diagnostics: see
// statementStats); outside the timed part, and without the extension it
// does nothing.
func withStatementStats(env *Env, label string, sd side) side {
	var (
		stats = &statementStats{env: env}
		on    bool
		n     int64
	)
	prep, run, post := sd.prep, sd.run, sd.post
	sd.prep = func(rep int) {
		if prep != nil {
			prep(rep)
		}
		on = stats.reset(context.Background())
	}
	sd.run = func(ctx context.Context, rep int) (int64, error) {
		var err error
		n, err = run(ctx, rep)
		return n, err
	}
	sd.post = func(rep int) error {
		if on {
			stats.log(context.Background(), label, n)
		}
		if post != nil {
			return post(rep)
		}
		return nil
	}
	return sd
}

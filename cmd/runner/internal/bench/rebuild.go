package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
)

// RebuildWorkload is the rebuild scenario's load: rebuilding an upsert
// read model from a preloaded log into a fresh schema beside the live one,
// which a reader keeps querying, against plain pgx doing the same
// (plainUpserter: keyset scan, batches of the same size, the same upsert
// statement, on the same server with the same durability settings).
//
// Each repetition builds into a new schema (<fixture>_b<N>), created and
// filled inside the timed call on both sides, checked and dropped after
// the clock. The live read model (a table in the fixture's schema, filled
// once before the repetitions with one INSERT … SELECT … GROUP BY) is
// untouched by either side: it is what the reader queries.
type RebuildWorkload struct {
	wf     *workerFixture
	env    *Env
	opts   Options
	live   string // the live read model the reader queries, quoted
	builds atomic.Int64

	// The Causeway side: a versioned projection whose builds a Builds
	// manager runs in this process for the whole scenario.
	proj     *projection.Projection
	mgr      *projection.Builds
	stopMgr  context.CancelFunc
	mgrDone  chan error
	previous int // the build the last Ours replaced (dropped by Finish)
}

// rebuildTarget is where one repetition builds: a fresh schema and the
// read model table in it.
type rebuildTarget struct {
	n      int64
	ours   bool   // a build: n is its number
	schema string // quoted
	table  string // quoted, schema-qualified
}

// NewRebuildWorkload preloads a fresh fixture with opts.Events events and
// fills the live read model from them. Close drops it.
func NewRebuildWorkload(ctx context.Context, env *Env, opts Options) (*RebuildWorkload, error) {
	opts = opts.withDefaults(ScenarioRebuild)
	wf, err := newWorkerFixture(ctx, env, ScenarioRebuild, opts.Events, opts)
	if err != nil {
		return nil, err
	}
	w := &RebuildWorkload{wf: wf, env: env, opts: opts}
	if err := w.startBuilds(ctx); err != nil {
		wf.close()
		return nil, err
	}
	return w, nil
}

// rebuildName is the versioned projection the Causeway side rebuilds.
const rebuildName = "order_totals"

// startBuilds declares the versioned projection, starts the builds manager
// (as every runner runs it) and waits for build 1, live at once, to catch
// up: that is the live read model the reader queries, through the live
// schema's view. The builds loop ticks every 100 ms here (1 s in a runner)
// so that a caught-up build switches within a tick of a short run.
func (w *RebuildWorkload) startBuilds(ctx context.Context) error {
	live := w.wf.fx.Schema + "_live"
	w.proj = projection.New(rebuildName, projection.Version(1), projection.Schema(live),
		projection.Partitions(w.opts.Partitions), projection.BatchSize(w.opts.BatchSize),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[orderTotal]) error {
			_, err := tx.Exec(ctx, upsertSQL("order_totals"), e.StreamID, e.Data.TotalCents)
			return err
		}),
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fmt.Sprintf(ReadModelDDL, "order_totals"))
			return err
		}),
	)
	mgr, err := projection.NewBuilds(projection.BuildsConfig{
		Pool: w.wf.fx.Pool, Schema: w.wf.fx.Schema, Log: w.wf.fx.Store, Checkpoints: w.wf.cps,
		Projections: []*projection.Projection{w.proj}, By: "bench",
		Worker:   worker.Config{ReadBatchSize: w.wf.readBatch, Logger: warnLogger(w.env.Logger)},
		Interval: 100 * time.Millisecond, Logger: warnLogger(w.env.Logger),
	})
	if err != nil {
		return err
	}
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w.mgr, w.stopMgr, w.mgrDone = mgr, stop, make(chan error, 1)
	go func() { w.mgrDone <- mgr.Run(mctx) }()
	w.live = pgx.Identifier{projection.LiveSchema(w.proj), "order_totals"}.Sanitize()
	b, err := w.waitLive(ctx, 1)
	if err != nil {
		return fmt.Errorf("bench: the first build: %w", err)
	}
	// Live at once, so wait for it to hold every event.
	for {
		var n int64
		if err := w.wf.fx.Pool.QueryRow(ctx, `SELECT coalesce(sum(events), 0) FROM `+w.live).Scan(&n); err != nil {
			return fmt.Errorf("bench: the first build: %w", err)
		}
		if n >= w.Loaded() {
			break
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	w.previous = b.Build
	return nil
}

// waitLive waits until build n of the projection is live.
func (w *RebuildWorkload) waitLive(ctx context.Context, n int) (projection.Build, error) {
	for {
		bs, err := w.mgr.List(ctx, rebuildName)
		if err != nil {
			return projection.Build{}, err
		}
		for _, b := range bs {
			if b.Build != n {
				continue
			}
			switch b.State {
			case projection.BuildLive:
				return b, nil
			case projection.BuildAborted, projection.BuildDropped, projection.BuildRetired:
				return b, fmt.Errorf("build %d is %s", n, b.State)
			}
		}
		select {
		case err := <-w.mgrDone:
			w.mgrDone <- err
			return projection.Build{}, fmt.Errorf("the builds manager stopped: %v", err)
		default:
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return projection.Build{}, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Close drops the fixture (and with it nothing else: every target schema
// is dropped after its repetition, see Drop).
func (w *RebuildWorkload) Close() {
	if w.stopMgr != nil {
		w.stopMgr()
		<-w.mgrDone
		// The builds' schemas and the live one live beside the fixture's.
		ctx := context.Background()
		if bs, err := w.mgr.List(ctx, rebuildName); err == nil {
			for _, b := range bs {
				_, _ = w.wf.fx.Pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{b.Schema}.Sanitize()+" CASCADE")
			}
		}
		_, _ = w.wf.fx.Pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{projection.LiveSchema(w.proj)}.Sanitize()+" CASCADE")
	}
	w.wf.close()
}

// Loaded is the number of preloaded events.
func (w *RebuildWorkload) Loaded() int64 { return w.wf.load.Loaded() }

// Streams is the number of streams in the log (rows of a complete read
// model).
func (w *RebuildWorkload) Streams() int {
	return int((w.Loaded() + ImportStreamLength - 1) / ImportStreamLength)
}

// next names the next repetition's target.
func (w *RebuildWorkload) next() rebuildTarget {
	n := w.builds.Add(1)
	s := w.wf.fx.Schema + "_b" + strconv.FormatInt(n, 10)
	return rebuildTarget{n: n, schema: pgx.Identifier{s}.Sanitize(), table: pgx.Identifier{s, "order_totals"}.Sanitize()}
}

// Ours rebuilds the read model blue/green: a new build of the versioned
// projection (Builds.Start, as `rebuild start` does), built by the builds
// manager's workers beside the live build while the reader queries the
// live views, until it is live (the switch included). Its target is the
// new build's table; Finish drops the build it replaced.
func (w *RebuildWorkload) Ours(ctx context.Context) (rebuildTarget, int64, error) {
	b, err := w.mgr.Start(ctx, rebuildName, "bench")
	if err != nil {
		return rebuildTarget{}, 0, err
	}
	w.mgr.Wake()
	t := rebuildTarget{n: int64(b.Build), ours: true, schema: pgx.Identifier{b.Schema}.Sanitize(), table: pgx.Identifier{b.Schema, "order_totals"}.Sanitize()}
	if _, err := w.waitLive(ctx, b.Build); err != nil {
		return t, 0, err
	}
	return t, w.Loaded(), nil
}

// Plain rebuilds the read model with plain pgx into a fresh target: the
// schema and table created, then plainUpserter (one keyset reader, one
// goroutine per partition, batches of BatchSize in one transaction each,
// the same upsert statement).
func (w *RebuildWorkload) Plain(ctx context.Context) (rebuildTarget, int64, error) {
	t := w.next()
	if _, err := w.wf.fx.Pool.Exec(ctx, "CREATE SCHEMA "+t.schema+"; "+fmt.Sprintf(ReadModelDDL, t.table), pgx.QueryExecModeSimpleProtocol); err != nil {
		return t, 0, fmt.Errorf("bench: create plain target: %w", err)
	}
	n, err := newPlainUpserter(w.wf.fx, t.table, w.opts.Partitions, w.opts.BatchSize, w.opts.ReadBatchSize).run(ctx)
	return t, n, err
}

// Finish checks that a target holds every event once (when check is set:
// after a successful run) and drops its schema.
func (w *RebuildWorkload) Finish(ctx context.Context, t rebuildTarget, check bool) error {
	var err error
	if check && t.table != "" {
		err = checkReadModels(ctx, w.wf.fx, w.Loaded(), t.table)
	}
	if t.ours {
		if !check {
			// A failed run: its build, if still building, is abandoned.
			_, _ = w.mgr.Abort(context.WithoutCancel(ctx), rebuildName, "bench")
			return err
		}
		// The build the new one replaced, now retired: dropped at once
		// rather than after the grace period.
		if t.n > 0 && int(t.n) != w.previous {
			if _, derr := w.mgr.Drop(context.WithoutCancel(ctx), rebuildName, w.previous, "bench"); derr != nil && err == nil {
				err = fmt.Errorf("bench: drop build %d: %w", w.previous, derr)
			}
			w.previous = int(t.n)
		}
		return err
	}
	if _, derr := w.wf.fx.Pool.Exec(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+t.schema+" CASCADE"); derr != nil && err == nil {
		err = fmt.Errorf("bench: drop build schema: %w", derr)
	}
	return err
}

// Reader starts a reader of the live read model at the given rate (see
// startLiveReader).
func (w *RebuildWorkload) Reader(rate float64) *liveReader {
	return startLiveReader(w.wf.fx.Pool, `SELECT events, total FROM `+w.live+` WHERE stream_id = $1`, w.Streams(), rate)
}

// Rebuild measures rebuilding an upsert read model from a preloaded log
// into a fresh schema (RebuildWorkload.Ours: today projection.Replay with
// CatchUp of a new projection writing there) against plain pgx doing the
// same (RebuildWorkload.Plain), while a reader queries the live read model
// throughout each run at Options.Rate reads per second. It reports, per
// side, the Go heap and the process's peak RSS during the run and what the
// reader saw (Result.Extra).
func Rebuild(ctx context.Context, env *Env, opts Options) (Result, error) {
	opts = opts.withDefaults(ScenarioRebuild)
	if opts.Rate <= 0 {
		return Result{}, fmt.Errorf("bench: rebuild: reader rate must be positive")
	}
	w, err := NewRebuildWorkload(ctx, env, opts)
	if err != nil {
		return Result{}, err
	}
	defer w.Close()
	arms := []func(context.Context) (rebuildTarget, int64, error){w.Ours, w.Plain}
	if opts.Warmup >= 0 {
		// Each side once (which also checks that both fold every event).
		for _, arm := range arms {
			t, _, err := arm(ctx)
			if ferr := w.Finish(ctx, t, err == nil); err == nil {
				err = ferr
			}
			if err != nil {
				return Result{}, fmt.Errorf("bench: rebuild warm-up: %w", err)
			}
		}
	}
	var (
		probe  *memoryProbe
		mem    = make([][]MemorySample, 2)
		reads  = make([][]ReaderStats, 2)
		target rebuildTarget
		runErr error
	)
	sideOf := func(i int, name string) side {
		return side{
			name: name,
			prep: func(int) { probe = startMemoryProbe() },
			run: func(ctx context.Context, _ int) (int64, error) {
				r := w.Reader(opts.Rate)
				var n int64
				target, n, runErr = arms[i](ctx)
				st := r.stop()
				reads[i] = append(reads[i], st)
				if runErr == nil && st.Err != nil {
					runErr = st.Err
				}
				if runErr == nil && st.Misses > 0 {
					runErr = fmt.Errorf("bench: rebuild: the live read model missed %d of %d reads", st.Misses, st.Reads)
				}
				return n, runErr
			},
			post: func(int) error {
				mem[i] = append(mem[i], probe.done())
				return w.Finish(ctx, target, runErr == nil)
			},
		}
	}
	runs, err := alternate(ctx, env, ScenarioRebuild, opts.Repetitions, sideOf(0, "ours"), sideOf(1, "plain-pgx"))
	if err != nil {
		return Result{}, err
	}
	shape := fmt.Sprintf("%d preloaded events (%d-byte data) in streams of %d; %d partitions, BatchSize %d, reads of %d; read model keyed by stream (events, total), built into a fresh schema per repetition (schema and table created in the timed run, checked and dropped after it); "+
		"a reader in this process queries the live read model (%d rows: the live build's view, which only ours switches, at its end) throughout each run: a point lookup of a random stream at %.0f/s through the side's pool",
		w.Loaded(), opts.DataSize, ImportStreamLength, opts.Partitions, opts.BatchSize, opts.ReadBatchSize, w.Streams(), opts.Rate)
	report := func(i int, scenario, what string) Result {
		m, rd := worstMemory(mem[i]), worstReader(reads[i])
		all := make([]string, len(reads[i]))
		for k, s := range reads[i] {
			all[k] = fmt.Sprintf("%.0f/s p99 %.2f ms", s.PerSecond(), ms(s.P99))
		}
		r := summarize(scenario, runs[i], fmt.Sprintf("%s; memory, worst repetition: %s; live reads, worst repetition: %s (by attempt: %v); %s",
			what, memNote(m), rd, all, shape))
		r.Extra = map[string]float64{
			"heap_before_mib": mib(m.HeapBefore), "heap_peak_mib": mib(m.HeapPeak), "heap_growth_mib": mibI(m.HeapGrowth()),
			"reader_reads_per_s": round(rd.PerSecond(), 1), "reader_p50_ms": ms(rd.P50), "reader_p99_ms": ms(rd.P99), "reader_max_ms": ms(rd.Max),
		}
		if m.RSSPeak > 0 {
			r.Extra["rss_before_mib"], r.Extra["rss_peak_mib"] = mib(m.RSSBefore), mib(m.RSSPeak)
		}
		return r
	}
	o := report(0, ScenarioRebuild, "a blue/green build of a versioned projection (On + INSERT … ON CONFLICT DO UPDATE into its unqualified table, OnSetup creating it): Builds.Start, then the builds manager's workers in this process build it beside the live build until the switch makes it live (builds loop every 100 ms)")
	b := report(1, ScenarioRebuild+"/plain-pgx", fmt.Sprintf(
		"one reader (keyset scan) feeding %d goroutines by PartitionOf(stream), each gathering up to BatchSize events, json.Unmarshal + the same upsert per row, one transaction per batch, no checkpoint", opts.Partitions))
	om := worstMemory(mem[0])
	memVerdict := "met"
	if om.HeapGrowth() >= 100<<20 || om.RSSPeak >= 100<<20 {
		memVerdict = "MISSED"
	}
	o.Notes += "; goal memory under 100 MiB: " + memVerdict
	return withBaseline(o, b, 0.90), nil
}

// worstMemory is the largest heap growth and the largest RSS peak among
// samples (attempts that were re-run sampled too).
func worstMemory(ms []MemorySample) MemorySample {
	var out MemorySample
	for _, m := range ms {
		if m.HeapGrowth() > out.HeapGrowth() || out.HeapPeak == 0 {
			out.HeapBefore, out.HeapPeak = m.HeapBefore, m.HeapPeak
		}
		if m.RSSPeak > out.RSSPeak {
			out.RSSBefore, out.RSSPeak = m.RSSBefore, m.RSSPeak
		}
	}
	return out
}

// worstReader is the reader run with the highest p99.
func worstReader(rs []ReaderStats) ReaderStats {
	var out ReaderStats
	for i, r := range rs {
		if i == 0 || r.P99 > out.P99 {
			out = r
		}
	}
	return out
}

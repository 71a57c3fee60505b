package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
)

// ReplayWorkload is the replay scenario's load: projection.Replay with
// CatchUp of an upsert read model over a preloaded log, against the
// worker-upsert scenario's plain-pgx reader and upserter.
type ReplayWorkload struct {
	wf         *workerFixture
	env        *Env
	proj       *projection.Projection
	table      string
	plain      *plainUpserter
	plainTable string
}

// NewReplayWorkload preloads a fresh fixture with opts.Events events and
// sets up the projection (projection.Setup) and the plain read model.
func NewReplayWorkload(ctx context.Context, env *Env, opts Options) (*ReplayWorkload, error) {
	opts = opts.withDefaults(ScenarioReplay)
	wf, err := newWorkerFixture(ctx, env, ScenarioReplay, opts.Events, opts)
	if err != nil {
		return nil, err
	}
	w := &ReplayWorkload{
		wf: wf, env: env,
		table:      pgx.Identifier{wf.fx.Schema, "order_totals"}.Sanitize(),
		plainTable: pgx.Identifier{wf.fx.Schema, "rm_plain"}.Sanitize(),
	}
	upsert := upsertSQL(w.table)
	p := projection.New("order_totals",
		projection.Partitions(opts.Partitions), projection.BatchSize(opts.BatchSize),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[orderTotal]) error {
			_, err := tx.Exec(ctx, upsert, e.StreamID, e.Data.TotalCents)
			return err
		}),
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fmt.Sprintf(ReadModelDDL, w.table))
			return err
		}),
		projection.OnReset(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "TRUNCATE "+w.table)
			return err
		}),
	)
	w.proj = p
	if err := projection.Setup(ctx, wf.fx.Pool, wf.fx.Schema, p); err != nil {
		wf.close()
		return nil, err
	}
	if _, err := wf.fx.Pool.Exec(ctx, fmt.Sprintf(ReadModelDDL, w.plainTable)); err != nil {
		wf.close()
		return nil, err
	}
	w.plain = newPlainUpserter(wf.fx, w.plainTable, opts.Partitions, opts.BatchSize, opts.ReadBatchSize)
	return w, nil
}

// Close drops the fixture.
func (w *ReplayWorkload) Close() { w.wf.close() }

// Loaded is the number of preloaded events.
func (w *ReplayWorkload) Loaded() int64 { return w.wf.load.Loaded() }

// Ours replays the projection (Reset, then catch up to the head in this
// process) and returns the events it went through.
func (w *ReplayWorkload) Ours(ctx context.Context) (int64, error) {
	res, err := projection.Replay(ctx, projection.ReplayConfig{
		Projection:  w.proj,
		Log:         w.wf.fx.Store,
		Checkpoints: w.wf.cps,
		CatchUp:     true,
		Worker:      worker.Config{ReadBatchSize: w.wf.readBatch, Logger: warnLogger(w.env.Logger)},
		Logger:      warnLogger(w.env.Logger),
	})
	return res.Events, err
}

// Plain empties the plain read model (untimed by the caller: call
// ResetPlain first) and rebuilds it with plain pgx.
func (w *ReplayWorkload) Plain(ctx context.Context) (int64, error) { return w.plain.run(ctx) }

// ResetPlain empties the plain read model.
func (w *ReplayWorkload) ResetPlain(ctx context.Context) error {
	_, err := w.wf.fx.Pool.Exec(ctx, "TRUNCATE "+w.plainTable)
	return err
}

// Check verifies that both read models hold every event once.
func (w *ReplayWorkload) Check(ctx context.Context) error {
	return checkReadModels(ctx, w.wf.fx, w.Loaded(), w.table, w.plainTable)
}

// MemorySample is the memory a piece of work used.
type MemorySample struct {
	// HeapBefore is the Go heap in use (runtime/metrics heap objects plus
	// unused heap spans) after a GC before the work; HeapPeak the highest
	// value sampled during it (every 10 ms).
	HeapBefore, HeapPeak uint64
	// RSSBefore is the process's resident set when the work began; RSSPeak
	// its peak (VmHWM) during the work: the peak is reset first through
	// /proc/self/clear_refs, so it is the work's own. Zero when /proc does
	// not allow it.
	RSSBefore, RSSPeak uint64
}

// HeapGrowth is the peak heap in use minus the heap before.
func (m MemorySample) HeapGrowth() int64 { return int64(m.HeapPeak) - int64(m.HeapBefore) }

// memoryProbe samples the Go heap in use every 10 ms while work runs.
type memoryProbe struct {
	stop chan struct{}
	wg   sync.WaitGroup
	m    MemorySample
}

var heapMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}

func heapInUse(s []metrics.Sample) uint64 {
	metrics.Read(s)
	var n uint64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			n += x.Value.Uint64()
		}
	}
	return n
}

// startMemoryProbe collects garbage, returns freed memory to the OS, resets
// the process's peak RSS and starts sampling.
func startMemoryProbe() *memoryProbe {
	runtime.GC()
	debug.FreeOSMemory()
	p := &memoryProbe{stop: make(chan struct{})}
	samples := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		samples[i].Name = name
	}
	p.m.HeapBefore = heapInUse(samples)
	p.m.HeapPeak = p.m.HeapBefore
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil {
		p.m.RSSBefore, _ = procStatusKB("VmRSS")
	}
	p.wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.m.HeapPeak = max(p.m.HeapPeak, heapInUse(samples))
			}
		}
	})
	return p
}

// done stops sampling and returns the sample.
func (p *memoryProbe) done() MemorySample {
	close(p.stop)
	p.wg.Wait()
	if p.m.RSSBefore > 0 {
		p.m.RSSPeak, _ = procStatusKB("VmHWM")
	}
	return p.m
}

// procStatusKB reads a "Name: N kB" line of /proc/self/status, in bytes.
func procStatusKB(name string) (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != name {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, false
		}
		return n * 1024, true
	}
	return 0, false
}

func mib(b uint64) float64 { return round(float64(b)/(1<<20), 1) }
func mibI(b int64) float64 { return round(float64(b)/(1<<20), 1) }
func memNote(m MemorySample) string {
	s := fmt.Sprintf("Go heap in use %.1f MiB before, peak %.1f MiB (+%.1f MiB)", mib(m.HeapBefore), mib(m.HeapPeak), mibI(m.HeapGrowth()))
	if m.RSSPeak > 0 {
		s += fmt.Sprintf("; process RSS %.1f MiB before, peak (VmHWM, reset before the run) %.1f MiB", mib(m.RSSBefore), mib(m.RSSPeak))
	}
	return s
}

// Replay measures projection.Replay (CatchUp: true) of an upsert read model
// built with projection.New, Handle, OnSetup and OnReset over a preloaded
// log, against plain pgx reading the same rows and upserting them
// (plainUpserter), and reports the memory each used.
func Replay(ctx context.Context, env *Env, opts Options) (Result, error) {
	opts = opts.withDefaults(ScenarioReplay)
	w, err := NewReplayWorkload(ctx, env, opts)
	if err != nil {
		return Result{}, err
	}
	defer w.Close()
	if opts.Warmup >= 0 {
		if err := warmBoth(ctx, ScenarioReplay, w.Ours, w.Plain, w.Check); err != nil {
			return Result{}, err
		}
	}
	var (
		probe    *memoryProbe
		prepErr  error
		mem      = make([][]MemorySample, 2)
		memories = func(i int) func(int) error {
			return func(int) error {
				mem[i] = append(mem[i], probe.done())
				return nil
			}
		}
	)
	runs, err := alternate(ctx, env, ScenarioReplay, opts.Repetitions,
		side{
			name: "ours",
			prep: func(int) { probe = startMemoryProbe() },
			run:  func(ctx context.Context, _ int) (int64, error) { return w.Ours(ctx) },
			post: memories(0),
		},
		side{
			name: "plain-pgx",
			prep: func(int) { prepErr = w.ResetPlain(ctx); probe = startMemoryProbe() },
			run: func(ctx context.Context, _ int) (int64, error) {
				if prepErr != nil {
					return 0, prepErr
				}
				return w.Plain(ctx)
			},
			post: memories(1),
		})
	if err != nil {
		return Result{}, err
	}
	// Attempts that were re-run also sampled; report the worst of all.
	om, pm := worstMemory(mem[0]), worstMemory(mem[1])
	shape := fmt.Sprintf("%d preloaded events (%d-byte data) in streams of %d; %d partitions, BatchSize %d, reads of %d; read model keyed by stream (events, total)",
		w.Loaded(), opts.DataSize, ImportStreamLength, opts.Partitions, opts.BatchSize, opts.ReadBatchSize)
	memVerdict := "met"
	if om.HeapGrowth() >= 100<<20 || om.RSSPeak >= 100<<20 {
		memVerdict = "MISSED"
	}
	o := summarize(ScenarioReplay, runs[0], fmt.Sprintf(
		"projection.Replay (Reset with OnReset TRUNCATE, then CatchUp in this process), handler projection.Handle + INSERT … ON CONFLICT DO UPDATE; "+
			"memory, worst repetition: %s; goal memory under 100 MiB: %s; %s", memNote(om), memVerdict, shape))
	o.Extra = map[string]float64{
		"heap_before_mib": mib(om.HeapBefore), "heap_peak_mib": mib(om.HeapPeak), "heap_growth_mib": mibI(om.HeapGrowth()),
	}
	if om.RSSPeak > 0 {
		o.Extra["rss_before_mib"], o.Extra["rss_peak_mib"] = mib(om.RSSBefore), mib(om.RSSPeak)
	}
	b := summarize(ScenarioReplay+"/plain-pgx", runs[1], fmt.Sprintf(
		"TRUNCATE (untimed), then one reader (keyset scan) feeding %d goroutines by PartitionOf(stream), each gathering up to BatchSize events, json.Unmarshal + the same upsert per row, one transaction per batch; memory, worst repetition: %s; %s",
		opts.Partitions, memNote(pm), shape))
	b.Extra = map[string]float64{"heap_growth_mib": mibI(pm.HeapGrowth()), "heap_peak_mib": mib(pm.HeapPeak)}
	if pm.RSSPeak > 0 {
		b.Extra["rss_peak_mib"] = mib(pm.RSSPeak)
	}
	return withBaseline(o, b, 0.80), nil
}

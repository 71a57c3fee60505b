package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/benchcpu"
	"github.com/causewayhq/causeway/worker"
)

// The dead-letters scenario: does a subscription with many dead letters cost
// more while idle, or deliver later, than one with none? Two subscriptions on
// one log and one server, each reading its own category: one with no dead
// letters, one with Options.Events (default 100,000) seeded dead letters,
// spread over its partitions and keys other than the ones appended to. Each
// repetition of an arm starts a worker with that subscription alone (its
// partitions claim and load their blocked keys before the clock), measures
// the server's CPU over an idle window, then the append→handler latency of
// single-event appends at Options.Rate, and stops the worker. Arms
// alternate; medians of the repetitions are reported.

// Dead-letter scenario settings.
const (
	deadLetterIdle    = 15 * time.Second // idle window per repetition
	deadLetterLatency = 1_000            // measured appends per repetition
	deadLetterStreams = 100              // streams the appends rotate over
	deadLetterWarm    = 50               // appends before the measured ones
)

// deadLetterArm is one subscription of the scenario.
type deadLetterArm struct {
	name string // subscription, and the category it reads
	dead int    // seeded dead letters

	// per repetition
	idleCPU, idleClient, other []float64 // % of one core over the idle window
	p50, p99                   []float64 // ms
	rates                      []float64 // measured appends per second
}

// DeadLetters runs the dead-letters scenario and returns dead-letters-N
// with dead-letters-0 as its Baseline.
func DeadLetters(ctx context.Context, env *Env, opts Options) ([]Result, error) {
	opts = opts.withDefaults(ScenarioDeadLetters)
	fx, err := env.NewFixture(ctx, ScenarioDeadLetters, FixtureOptions{MaxConns: 24})
	if err != nil {
		return nil, err
	}
	defer fx.Close()
	cps, err := checkpoint.NewPostgres(fx.Pool, fx.Schema)
	if err != nil {
		return nil, err
	}
	arms := []*deadLetterArm{
		{name: "dlzero", dead: 0},
		{name: "dlmany", dead: opts.Events},
	}
	for _, a := range arms {
		if _, err := cps.Register(ctx, checkpoint.Subscription{Name: a.name, Partitions: opts.Partitions}); err != nil {
			return nil, err
		}
		begin := time.Now()
		if err := seedDeadLetters(ctx, fx, a.name, opts.Partitions, a.dead); err != nil {
			return nil, err
		}
		env.Logger.Info("bench: seeded dead letters", "subscription", a.name, "dead_letters", a.dead, "elapsed", time.Since(begin).Round(time.Millisecond))
	}
	if _, err := fx.Pool.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{fx.Schema, "dead_letters"}.Sanitize()); err != nil {
		return nil, fmt.Errorf("bench: vacuum dead letters: %w", err)
	}
	// The seeded pages are written now, not by a spread checkpoint during
	// the idle windows (needs a superuser; the embedded cluster's is).
	if _, err := fx.Pool.Exec(ctx, "CHECKPOINT"); err != nil {
		env.Logger.Warn("bench: checkpoint after seeding failed; idle windows may include its writes", "err", err)
	}
	retried := 0
	for rep := range opts.Repetitions {
		for k := range arms {
			a := arms[(rep+k)%len(arms)]
			var best *deadLetterRun
			for attempt := 1; ; attempt++ {
				waited := benchcpu.WaitQuiet(ctx, env.Postmaster, env.QuietWait)
				r, err := a.run(ctx, env, fx, cps, opts)
				if err != nil {
					return nil, fmt.Errorf("bench: %s (%s, repetition %d): %w", ScenarioDeadLetters, a.name, rep+1, err)
				}
				env.Logger.Info("bench: repetition", "scenario", ScenarioDeadLetters, "side", a.name, "rep", rep+1, "attempt", attempt,
					"idle_server_cpu_pct", round(r.idleServer, 3), "idle_background_cpu_pct", round(r.idleBackground, 3), "idle_client_cpu_pct", round(r.idleClient, 3),
					"p50_ms", ms(r.p50), "p99_ms", ms(r.p99), "other_cpu_pct", round(r.other, 1), "waited_quiet", waited.Round(time.Millisecond))
				if best == nil || r.other < best.other {
					best = &r
				}
				if r.other <= 100*disturbed || attempt == maxAttempts || env.QuietWait <= 0 {
					retried += attempt - 1
					break
				}
			}
			a.idleCPU = append(a.idleCPU, best.idleServer)
			a.idleClient = append(a.idleClient, best.idleClient)
			a.other = append(a.other, best.other)
			a.p50 = append(a.p50, ms(best.p50))
			a.p99 = append(a.p99, ms(best.p99))
			a.rates = append(a.rates, best.rate)
		}
	}
	out := make([]Result, len(arms))
	for i, a := range arms {
		out[i] = a.result(opts, retried)
	}
	zero, many := out[0], out[1]
	cpuRatio := ratioOf(many.Extra["idle_server_cpu_pct"], zero.Extra["idle_server_cpu_pct"])
	p99Ratio := ratioOf(many.P99Ms, zero.P99Ms)
	many.Extra["idle_server_cpu_ratio"], many.Extra["p99_ratio"] = cpuRatio, p99Ratio
	verdict := "met"
	if cpuRatio > 1.2 || p99Ratio > 1.2 {
		verdict = "MISSED"
	}
	many.Notes += fmt.Sprintf("; against %d dead letters: idle server CPU x%.2f, p99 x%.2f; goal both within 20%%: %s", 0, cpuRatio, p99Ratio, verdict)
	z := zero
	many.Baseline = &z
	return []Result{many}, nil
}

// idleWindow is the idle window per repetition.
func idleWindow(o Options) time.Duration {
	if o.IdleWindow > 0 {
		return o.IdleWindow
	}
	return deadLetterIdle
}

func ratioOf(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return round(a/b, 3)
}

// deadLetterRun is one repetition of an arm.
type deadLetterRun struct {
	idleServer, idleClient float64 // % of one core
	idleBackground         float64 // % of one core: the server's processes other than client backends
	other                  float64 // % of one core used by other processes, over the whole repetition
	rate                   float64 // measured appends per second
	p50, p99               time.Duration
}

// run starts a worker with the arm's subscription, waits until its
// partitions run, measures the idle window and the latency, and stops it.
func (a *deadLetterArm) run(ctx context.Context, env *Env, fx *Fixture, cps *checkpoint.PostgresStore, opts Options) (deadLetterRun, error) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		measuring = false
	)
	sub := worker.NewSubscription(a.name,
		worker.Partitions(opts.Partitions),
		worker.Categories(a.name),
		worker.Mode(worker.Transactional),
		worker.OnAny(func(_ context.Context, d *worker.Delivery) error {
			now := time.Now()
			if _, sent, ok := sentAt(d.Event.Data); ok && sent > 0 {
				mu.Lock()
				if measuring {
					latencies = append(latencies, now.Sub(time.Unix(0, sent)))
				}
				mu.Unlock()
			}
			return nil
		}),
	)
	cfg := worker.Config{Log: fx.Store, Checkpoints: cps, Logger: warnLogger(env.Logger)}
	w, err := worker.New(cfg, sub)
	if err != nil {
		return deadLetterRun{}, err
	}
	wctx, cancel := context.WithCancel(ctx)
	ended := make(chan error, 1)
	go func() { ended <- w.Run(wctx) }()
	defer func() { cancel(); <-ended }()

	// Every partition claimed and past loading its blocked keys, then a
	// few seconds for the start's own work (first commits) to settle.
	deadline := time.Now().Add(time.Minute)
	for !allRunning(w, opts.Partitions) {
		if time.Now().After(deadline) {
			return deadLetterRun{}, fmt.Errorf("bench: partitions not running after a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A few appends first: the partitions' first commits and the pool's
	// connections are not part of the idle cost.
	if err := a.appendAt(ctx, fx, opts, deadLetterWarm); err != nil {
		return deadLetterRun{}, err
	}
	time.Sleep(min(2*time.Second, idleWindow(opts)))

	// Diagnostics: the window's statements, when the server loads
	// pg_stat_statements (reset and read outside the window).
	stats := &statementStats{env: env}
	statsOn := stats.reset(ctx)
	c0 := benchcpu.Take(env.Postmaster)
	s0, bg0 := serverCPUFine(env.Postmaster)
	procs0 := serverProcs(env.Postmaster)
	begin := time.Now()
	select {
	case <-ctx.Done():
		return deadLetterRun{}, ctx.Err()
	case err := <-ended:
		return deadLetterRun{}, fmt.Errorf("bench: worker stopped: %v", err)
	case <-time.After(idleWindow(opts)):
	}
	idle := benchcpu.Take(env.Postmaster).Sub(c0)
	s1, bg1 := serverCPUFine(env.Postmaster)
	procs1 := serverProcs(env.Postmaster)
	live := liveCPU(procs0, procs1)
	if statsOn {
		stats.log(ctx, a.name+" idle window", 1)
	}
	env.Logger.Info("bench: idle window", "subscription", a.name, "busiest_server_processes", busiest(procs0, procs1, 4),
		"server_tree", (s1 - s0).Round(10*time.Microsecond), "server_live", live.Round(10*time.Microsecond))
	var background time.Duration
	if s0 > 0 && s1 > s0 {
		// The processes alive at the end only: a backend that exits during
		// the window adds its whole life's CPU to the postmaster's children
		// times (the blocked keys it loaded at claim, say), not the window's.
		idle.Server, background = live, bg1-bg0
	}
	idleDur := time.Since(begin)

	mu.Lock()
	measuring = true
	mu.Unlock()
	sendStart := time.Now()
	if err := a.appendAt(ctx, fx, opts, deadLetterLatency); err != nil {
		return deadLetterRun{}, err
	}
	sendRate := float64(deadLetterLatency) / time.Since(sendStart).Seconds()
	waitUntil := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(latencies)
		mu.Unlock()
		if n >= deadLetterLatency {
			break
		}
		if time.Now().After(waitUntil) {
			return deadLetterRun{}, fmt.Errorf("bench: %d of %d appended events handled after 30s", n, deadLetterLatency)
		}
		time.Sleep(10 * time.Millisecond)
	}
	all := benchcpu.Take(env.Postmaster).Sub(c0)
	mu.Lock()
	lat := slices.Clone(latencies)
	mu.Unlock()
	pct := func(d, over time.Duration) float64 { return 100 * d.Seconds() / over.Seconds() }
	return deadLetterRun{
		idleServer:     pct(idle.Server, idleDur),
		idleBackground: pct(background, idleDur),
		idleClient:     pct(idle.Self, idleDur),
		other:          pct(all.Other(), time.Since(begin)),
		rate:           sendRate,
		p50:            Percentile(lat, 50),
		p99:            Percentile(lat, 99),
	}, nil
}

// appendAt appends n single-event appends at opts.Rate to the arm's
// streams, each carrying its send time.
func (a *deadLetterArm) appendAt(ctx context.Context, fx *Fixture, opts Options, n int) error {
	interval := time.Duration(float64(time.Second) / opts.Rate)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		k := i % deadLetterStreams
		p := newPayload(int64(i), time.Now().UnixNano(), opts.DataSize)
		if _, err := fx.Store.Append(ctx, a.name+"-"+strconv.Itoa(k), eventlog.Any, p.data); err != nil {
			return err
		}
	}
	return nil
}

func allRunning(w *worker.Worker, partitions int) bool {
	for _, s := range w.LocalStatus() {
		n := 0
		for _, p := range s.Partitions {
			if p.State == "running" {
				n++
			}
		}
		return n == partitions
	}
	return false
}

// result summarises the arm's repetitions (medians).
func (a *deadLetterArm) result(opts Options, retried int) Result {
	med := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[len(s)/2]
	}
	list := func(xs []float64) string {
		out := make([]string, len(xs))
		for i, x := range xs {
			out[i] = strconv.FormatFloat(round(x, 3), 'f', -1, 64)
		}
		return fmt.Sprint(out)
	}
	notes := fmt.Sprintf("subscription with %d dead letters (dead, awaiting an operator; keys other than the appended streams), "+
		"%d partitions, Transactional no-op handler, RetryPollInterval and RetryFallbackInterval default (retry requests announced by NOTIFY); per repetition a fresh worker, "+
		"idle window %v (server CPU: its processes alive at the end of the window, from /proc/PID/schedstat, %% of one core by repetition: %s; client: %s), then %d single-event appends at %.0f/s over %d streams "+
		"(append->handler p99 ms by repetition: %s); medians of %d repetitions, arms alternating; other processes %% of one core by repetition: %s; %d cores",
		a.dead, opts.Partitions, idleWindow(opts), list(a.idleCPU), list(a.idleClient), deadLetterLatency, opts.Rate, deadLetterStreams,
		list(a.p99), len(a.p99), list(a.other), runtime.NumCPU())
	if retried > 0 {
		notes += fmt.Sprintf("; %d repetition(s) re-run because other processes disturbed them", retried)
	}
	return Result{
		Scenario:   fmt.Sprintf("%s-%d", ScenarioDeadLetters, a.dead),
		Events:     deadLetterLatency,
		EventsPerS: round(med(a.rates), 1),
		P50Ms:      med(a.p50),
		P99Ms:      med(a.p99),
		Extra: map[string]float64{
			"idle_server_cpu_pct": round(med(a.idleCPU), 3),
			"idle_client_cpu_pct": round(med(a.idleClient), 3),
		},
		Notes: notes,
	}
}

// seedDeadLetters stores n dead letters for sub, as a worker would have
// recorded them (dead: no automatic retry left), over distinct keys spread
// by the worker's partitioning.
func seedDeadLetters(ctx context.Context, fx *Fixture, sub string, partitions, n int) error {
	if n == 0 {
		return nil
	}
	keys := make([]string, n)
	parts := make([]int32, n)
	for i := range n {
		keys[i] = "dead-" + strconv.Itoa(i)
		parts[i] = int32(worker.PartitionOf(keys[i], partitions))
	}
	_, err := fx.Pool.Exec(ctx, `INSERT INTO `+pgx.Identifier{fx.Schema, "dead_letters"}.Sanitize()+`
			(subscription, partition, key, event_id, event_tx, event_pos, stream_id, version, event_type, error,
			 attempts, first_failed_at, last_failed_at)
		SELECT $1, k.partition, k.key, gen_random_uuid(), '1'::xid8, k.n, k.key, 1, $4, 'bench: seeded', 1, now(), now()
		  FROM unnest($2::text[], $3::int[]) WITH ORDINALITY AS k(key, partition, n)`, sub, keys, parts, EventType)
	if err != nil {
		return fmt.Errorf("bench: seed dead letters: %w", err)
	}
	return nil
}

// serverCPUFine is the CPU time of the server's live processes from
// /proc/<pid>/schedstat (nanoseconds, where /proc/<pid>/stat counts 10 ms
// ticks: an idle server uses a few ticks in ten seconds), plus the ticks
// of exited children; background is the part of the live processes that
// are not client backends (checkpointer, WAL writer, autovacuum…). 0 when
// unknown.
func serverCPUFine(postmaster int) (total, background time.Duration) {
	if postmaster <= 0 {
		return 0, 0
	}
	if f := benchcpu.ProcStat(postmaster); len(f) >= 15 {
		for _, i := range []int{13, 14} { // cutime, cstime: exited children
			v, _ := strconv.ParseInt(f[i], 10, 64)
			total += time.Duration(v) * benchcpu.ClockTick
		}
	}
	total += schedTime(postmaster)
	background += schedTime(postmaster)
	ents, _ := os.ReadDir("/proc")
	want := strconv.Itoa(postmaster)
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := benchcpu.ProcStat(child); len(f) > 1 && f[1] == want {
			t := schedTime(child)
			total += t
			// A client backend's title is "postgres: user db host(port) …".
			if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err != nil || !strings.Contains(string(b), "(") {
				background += t
			}
		}
	}
	return total, background
}

// serverProcs maps the server's live processes to their CPU time so far
// (schedstat) and title, for a breakdown of an idle window in the log.
func serverProcs(postmaster int) map[int]procCPU {
	out := map[int]procCPU{}
	if postmaster <= 0 {
		return out
	}
	ents, _ := os.ReadDir("/proc")
	want := strconv.Itoa(postmaster)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := benchcpu.ProcStat(pid); len(f) > 1 && f[1] == want {
			b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			out[pid] = procCPU{cpu: schedTime(pid), title: strings.TrimRight(string(b), "\x00 ")}
		}
	}
	return out
}

type procCPU struct {
	cpu   time.Duration
	title string
}

// liveCPU is the CPU the processes alive at b used since a (all of it for
// those started since).
func liveCPU(a, b map[int]procCPU) time.Duration {
	var t time.Duration
	for pid, y := range b {
		t += y.cpu - a[pid].cpu
	}
	return t
}

// busiest lists the processes that used the most CPU between a and b.
func busiest(a, b map[int]procCPU, n int) []string {
	type d struct {
		pid   int
		cpu   time.Duration
		title string
	}
	var ds []d
	for pid, y := range b {
		ds = append(ds, d{pid, y.cpu - a[pid].cpu, y.title})
	}
	slices.SortFunc(ds, func(x, y d) int { return int(y.cpu - x.cpu) })
	var out []string
	for i := 0; i < len(ds) && i < n; i++ {
		out = append(out, fmt.Sprintf("%d %q %v", ds[i].pid, ds[i].title, ds[i].cpu.Round(10*time.Microsecond)))
	}
	return out
}

// schedTime is a process's time on a CPU in nanoseconds (first field of
// /proc/<pid>/schedstat), 0 when unknown.
func schedTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(v)
}

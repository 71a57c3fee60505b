package reliability

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/internal/pgembed"
	"github.com/causewayhq/causeway/runtime"
)

// childPoolSize is each consumer process's connection pool: 24
// partitions across its three subscriptions, the saga executor's steps,
// the reader and the tailer.
const childPoolSize = 24

// Run runs the harness: it appends the workload and injects faults for
// Duration, waits for the consumers to settle, stops them, checks the
// oracle and returns the summary. An error means the harness itself could
// not run (no database, no executable); violations are in the summary.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	opts = opts.withDefaults()
	began := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(opts.Progress, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	sum := &Summary{Seed: opts.Seed, Workers: opts.Workers, FaultKinds: opts.Faults, operatorOn: opts.enabled(FaultOperator)}

	url, cluster := opts.DatabaseURL, opts.Cluster
	switch {
	case cluster != nil:
		url = cluster.URL("")
		sum.Database = "embedded PostgreSQL (given)"
	case url != "":
		sum.Database = "DATABASE_URL"
		if opts.enabled(FaultPGCrash) || opts.enabled(FaultPGRestart) {
			sum.Notes = append(sum.Notes, "PostgreSQL crash and restart faults skipped: running against DATABASE_URL, which the harness cannot crash")
		}
	default:
		say("starting a throwaway embedded PostgreSQL")
		c, err := pgembed.Start(ctx, pgembed.Options{Settings: map[string]string{"synchronous_commit": "on"}, Logger: opts.Logger})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		cluster, url = c, c.URL("")
		sum.Database = "embedded PostgreSQL"
	}
	exe := opts.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find this executable (the consumers re-execute it): %w", err)
		}
	}
	logDir := opts.LogDir
	if logDir == "" {
		var err error
		if logDir, err = os.MkdirTemp("", "causeway-reliability-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}

	// The harness's own runtime: the same app, never run here; it appends,
	// operates and inspects.
	appSchema := opts.Schema + "_app"
	app, c := newApp(appSchema, "harness")
	cfg, err := runtime.ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	cfg.DatabaseURL, cfg.Schema, cfg.HTTPAddr, cfg.LogLevel, cfg.LeaseTTL = url, opts.Schema, "off", "error", opts.LeaseTTL
	r, err := runtime.Open(ctx, app, cfg)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if _, err := r.Pool().Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{opts.Schema}.Sanitize()+` CASCADE; DROP SCHEMA IF EXISTS `+pgx.Identifier{appSchema}.Sanitize()+` CASCADE`); err != nil {
		return nil, fmt.Errorf("reset schemas: %w", err)
	}
	if _, err := r.Migrate(ctx); err != nil {
		return nil, err
	}
	say("schemas %s and %s ready; seed %d", opts.Schema, appSchema, opts.Seed)

	viol := newViolations()
	tl := &timeline{}
	w := newWorkload(opts, r.Log, r.Pool(), opts.Logger)
	w.backlog(ctx)
	say("backlog of %d events appended", w.appended.Load())

	f := &fleet{exe: exe, logDir: logDir, tl: tl, viol: viol,
		base: childConfig{URL: withPoolSize(url, childPoolSize), Schema: opts.Schema, AppSchema: appSchema, LeaseTTL: opts.LeaseTTL}}
	defer f.killAll()
	if err := f.ensure(ctx, opts.Workers); err != nil {
		return nil, err
	}
	say("%d consumer processes started", opts.Workers)

	op := newOperator(r.Ops(), c, opts.Seed, viol, opts.Logger)
	in := &injector{opts: opts, fleet: f, tl: tl, work: w, rng: rand.New(rand.NewPCG(uint64(opts.Seed), 0)),
		progress: opts.Progress, start: began, counts: map[string]int{}, lastPG: time.Now(), cluster: cluster}

	runBegan := time.Now()
	runCtx, stopRun := context.WithTimeout(ctx, opts.Duration)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(runCtx) }()
	if opts.enabled(FaultOperator) {
		wg.Add(1)
		go func() { defer wg.Done(); op.loop(runCtx) }()
	}
	injErr := in.run(runCtx)
	stopRun()
	wg.Wait()
	if injErr != nil {
		return nil, injErr
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	sum.DurationS = time.Since(runBegan).Seconds()
	say("faults stopped: %s; %d events appended; settling (up to %v)", counts(in.counts), w.appended.Load(), opts.SettleTimeout)

	settleBegan := time.Now()
	st := &settler{ops: r.Ops(), sagas: r.Sagas, c: c, fleet: f, timeout: opts.SettleTimeout, progress: say}
	if opts.enabled(FaultOperator) {
		st.op = op
	}
	sum.Settled, sum.Outstanding = st.settle(ctx)
	sum.SettleS = time.Since(settleBegan).Seconds()
	if !sum.Settled {
		viol.add("settle-timeout", "not settled within %v: %s", opts.SettleTimeout,
			orNone(sum.Outstanding, "nothing outstanding, but effects were still being recorded"))
	}
	say("settled=%v in %.1fs; stopping the consumers", sum.Settled, sum.SettleS)
	f.stopAll()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	if err := check(ctx, r, c, op, tl, opts.LeaseTTL, viol, sum); err != nil {
		return nil, err
	}
	say("oracle checked")

	sum.Events.Appended = w.appended.Load() + w.sagas.Load()
	sum.Events.RolledBack = w.rolledBack.Load()
	sum.Events.AppendErrors = w.appendErrs.Load()
	sum.Events.Bursts = w.bursts.Load()
	w.poisonMu.Lock()
	sum.Events.Poison = maps.Clone(w.poisonCount)
	w.poisonMu.Unlock()
	sum.Injected = maps.Clone(in.counts)
	if opts.enabled(FaultRollback) {
		sum.Injected[FaultRollback] = int(w.rollbacks.Load())
	}
	if opts.enabled(FaultLongTx) {
		sum.Injected[FaultLongTx] = int(w.longTxs.Load())
	}
	if opts.enabled(FaultPoison) {
		n := 0
		for _, v := range sum.Events.Poison {
			n += v
		}
		sum.Injected[FaultPoison] = n
	}
	op.mu.Lock()
	sum.OperatorActions = maps.Clone(op.counts)
	if opts.enabled(FaultOperator) {
		sum.Injected[FaultOperator] = op.rounds
	}
	op.mu.Unlock()
	f.mu.Lock()
	sum.Consumers.Started = f.started
	f.mu.Unlock()
	for _, m := range tl.snapshot() {
		if m.Kind == eventDied {
			sum.Consumers.Died++
		}
	}
	sum.Violations = viol.list()
	if sum.Violations == nil {
		sum.Violations = []Violation{} // "violations": [] in JSON
	}
	sum.OK = len(sum.Violations) == 0
	if sum.OK && opts.LogDir == "" {
		_ = os.RemoveAll(logDir)
	} else {
		sum.LogDir = logDir
	}
	return sum, nil
}

// check reads the evidence and runs the oracle into sum.
func check(ctx context.Context, r *runtime.Runtime, c *consumer, op *operator, tl *timeline, leaseTTL time.Duration, viol *violations, sum *Summary) error {
	ev, err := readLog(ctx, r.Log, r.Pool(), r.Log.Schema(), viol)
	if err != nil {
		return err
	}
	sum.Events.InLog = len(ev.byID)
	sum.Events.Streams = len(ev.items) + len(ev.requests)
	if ev.applied, err = readEffects(ctx, r.Pool(), c.tables.applied); err != nil {
		return err
	}
	if ev.deliveries, err = readEffects(ctx, r.Pool(), c.tables.deliveries); err != nil {
		return err
	}
	ev.dls = map[string][]checkpoint.DeadLetter{}
	for _, sub := range subscriptionNames {
		if ev.dls[sub], err = listDeadLetters(ctx, r.Ops(), sub); err != nil {
			return err
		}
	}
	op.mu.Lock()
	ev.discarded = map[string]map[uuid.UUID]bool{}
	for sub, ids := range op.discarded {
		ev.discarded[sub] = maps.Clone(ids)
	}
	ev.reported = maps.Clone(op.unexpected)
	rec := operatorRecord{on: sum.operatorOn, resumed: maps.Clone(op.resumed), cancelled: maps.Clone(op.cancelled)}
	op.mu.Unlock()
	ev.marks = tl.snapshot()
	// A lease renewed just before an outage lasts TTL; the member renews
	// every TTL/3 once it reconnects, which can take a backoff of its own.
	ev.leaseLead = 2*leaseTTL + clockSlack
	effects, err := readSagaEffects(ctx, r.Pool(), c.tables.effects)
	if err != nil {
		return err
	}
	sum.Projection = ev.checkProjection(viol)
	sum.AtLeastOnce = ev.checkDeliveries(viol)
	if sum.Sagas, err = ev.checkSagas(ctx, r.Ops(), effects, rec, viol); err != nil {
		return err
	}
	return nil
}

// withPoolSize sets pool_max_conns on a connection URL.
func withPoolSize(url string, n int) string {
	if strings.Contains(url, "pool_max_conns=") {
		return url
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return fmt.Sprintf("%s%spool_max_conns=%d", url, sep, n)
}

package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime/api"
	"github.com/causewayhq/causeway/runtime/migrate"
	"github.com/causewayhq/causeway/runtime/ops"
	"github.com/causewayhq/causeway/runtime/telemetry"
	"github.com/causewayhq/causeway/saga"
	sagapg "github.com/causewayhq/causeway/saga/postgres"
	"github.com/causewayhq/causeway/worker"
	"github.com/causewayhq/causeway/worker/queue"
	qpostgres "github.com/causewayhq/causeway/worker/queue/postgres"
)

// Runtime is an App connected to its database.
type Runtime struct {
	cfg    Config
	app    App
	logger *slog.Logger
	pool   *pgxpool.Pool
	// control is a small pool for membership and leases only, so that
	// heartbeats and renewals never queue behind handlers' transactions.
	control *pgxpool.Pool
	leases  *checkpoint.PostgresStore
	tel     *telemetry.Telemetry
	// metricsInterval is how often Run refreshes the gauges (0: the
	// default; tests shorten it).
	metricsInterval time.Duration

	// Log, Checkpoints and Sagas are the stores, for programs that append
	// events or inspect state themselves.
	Log         *pgstore.Store
	Checkpoints *checkpoint.PostgresStore
	Sagas       *sagapg.Store

	// reader is Log as every consumer reads it: through App.Upcasters.
	reader worker.Log
	// queues is the queue store (Queues).
	queues *qpostgres.Store
	// builds runs and manages the builds of versioned projections.
	builds *projection.Builds
	// purgeSchedule is when the leader purges the queues (empty: every
	// minute; tests shorten it).
	purgeSchedule string
}

// Reader is the log as the app's consumers read it: through App.Upcasters
// (Log itself when there are none). Subscriptions, projections, sagas,
// replays and inspection all read through it; read through it too when
// folding a stream (eventlog.Fold), so commands decide from current shapes.
// Appends through it go to Log unchanged.
func (r *Runtime) Reader() worker.Log { return r.reader }

// Open connects to the database and builds the stores. It does not
// migrate (see Migrate) and starts nothing (see Run).
func Open(ctx context.Context, app App, cfg Config) (*Runtime, error) {
	if err := app.validate(); err != nil {
		return nil, err
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	logger, err := cfg.logger()
	if err != nil {
		return nil, err
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err) // pgconn masks the password
	}
	if !connectTimeoutSet(cfg.DatabaseURL) {
		// pgx waits forever by default: a host that accepts the connection
		// and never answers would hang every command without a word.
		poolCfg.ConnConfig.ConnectTimeout = cfg.connectTimeout()
	}
	cfg.ListenURL = withConnectTimeout(cfg.ListenURL, cfg.connectTimeout())
	if poolCfg.MaxConns < 16 {
		// Partitions hold a connection per batch; the reader, the tailer,
		// the saga executor and the API need their own.
		poolCfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, dbError(cfg.DatabaseURL, poolCfg.ConnConfig.ConnectTimeout, err)
	}
	// The pool connects lazily; reach the database now, so that a wrong
	// or silent one fails here, clearly, rather than deep in a command.
	pctx, cancel := context.WithTimeout(ctx, cfg.commandTimeout())
	err = pool.Ping(pctx)
	cancel()
	if err != nil {
		pool.Close()
		return nil, dbError(cfg.DatabaseURL, poolCfg.ConnConfig.ConnectTimeout, err)
	}
	r := &Runtime{cfg: cfg, app: app, logger: logger, pool: pool}
	var export *telemetry.Export
	if cfg.TelemetryFromEnv {
		if export, err = telemetry.NewExport(ctx, serviceName(app.Name), cfg.TracerProvider == nil); err != nil {
			pool.Close()
			return nil, err
		}
	}
	tp := cfg.TracerProvider
	if export != nil {
		export.Install(logger)
		if etp := export.TracerProvider(); etp != nil {
			tp = etp
		}
	}
	if r.tel, err = telemetry.New(telemetry.Options{Service: serviceName(app.Name), TracerProvider: tp, Export: export}); err != nil {
		_ = export.Shutdown(ctx)
		pool.Close()
		return nil, err
	}
	r.Log, err = pgstore.New(pool, pgstore.Config{Schema: cfg.Schema, DisableNotify: cfg.DisableNotify,
		ListenURL: cfg.ListenURL, Enrich: r.tel.Enrich, Tailer: eventlog.TailerOptions{Logger: logger}})
	if err != nil {
		pool.Close()
		return nil, err
	}
	r.reader = r.Log
	if len(app.Upcasters) > 0 {
		// Not wrapped without upcasters: the hot read path stays direct.
		if r.reader, err = eventlog.WithUpcasters(r.Log, app.Upcasters...); err != nil {
			r.Close()
			return nil, err
		}
	}
	if r.Checkpoints, err = checkpoint.NewPostgres(pool, cfg.Schema); err != nil {
		r.Close()
		return nil, err
	}
	controlCfg := poolCfg.Copy()
	controlCfg.MaxConns, controlCfg.MinConns = controlPoolSize, 0
	if r.control, err = pgxpool.NewWithConfig(ctx, controlCfg); err != nil {
		r.Close()
		return nil, dbError(cfg.DatabaseURL, poolCfg.ConnConfig.ConnectTimeout, err)
	}
	if r.leases, err = checkpoint.NewPostgres(r.control, cfg.Schema); err != nil {
		r.Close()
		return nil, err
	}
	if r.Sagas, err = sagapg.New(r.Log); err != nil {
		r.Close()
		return nil, err
	}
	if r.queues, err = qpostgres.New(pool, qpostgres.Schema(cfg.Schema)); err != nil {
		r.Close()
		return nil, err
	}
	if r.builds, err = r.newBuilds(); err != nil {
		r.Close()
		return nil, err
	}
	if app.OnOpen != nil {
		if err := app.OnOpen(r); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close releases the connections and flushes the OTEL_* export.
func (r *Runtime) Close() {
	if r.Log != nil {
		r.Log.Close()
	}
	if r.queues != nil {
		r.queues.Close()
	}
	if r.control != nil {
		r.control.Close()
	}
	r.pool.Close()
	if r.tel != nil {
		r.tel.Close(r.logger)
	}
}

// controlPoolSize is the size of the pool for heartbeats and leases: one
// membership loop per subscription shares it, each with a short statement
// every TTL/3.
const controlPoolSize = 4

// Pool is the runtime's connection pool.
func (r *Runtime) Pool() *pgxpool.Pool { return r.pool }

// Logger is the runtime's logger.
func (r *Runtime) Logger() *slog.Logger { return r.logger }

// Migrate applies Causeway's migrations, declares the app's queues, and
// runs the app's and the projections' set-up.
func (r *Runtime) Migrate(ctx context.Context) ([]int, error) {
	applied, err := migrate.Apply(ctx, r.pool, r.cfg.Schema)
	if err != nil {
		return applied, err
	}
	if err := r.declareQueues(ctx); err != nil {
		return applied, err
	}
	if r.app.Setup != nil {
		if err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error { return r.app.Setup(ctx, tx) }); err != nil {
			return applied, fmt.Errorf("app set-up: %w", err)
		}
	}
	return applied, projection.Setup(ctx, r.pool, r.cfg.Schema, r.app.Projections...)
}

// subscriptions builds every worker subscription of the app (the worker
// wraps their handlers with tracing and metrics).
func (r *Runtime) subscriptions(x *saga.Executor) ([]worker.Subscription, error) {
	var subs []worker.Subscription
	// Handlers' projection.Emit and Enqueue go to this log and these queues.
	fx := projection.EffectsEnv{Appender: r.Log, Queues: r.queues, Schema: r.Log.Schema()}
	for _, p := range r.app.Projections {
		if p.Versioned() {
			continue // its builds run as subscriptions of their own (r.builds)
		}
		s, err := p.SubscriptionWith(fx)
		if err != nil {
			return nil, err
		}
		subs = append(subs, s)
	}
	for _, d := range r.app.Sagas {
		var opts []saga.SubscriptionOption
		if x != nil {
			// New instances go to this process's executor without a claim,
			// and it is woken after commits that make something due.
			opts = append(opts, saga.HandOff(x))
		}
		s, err := saga.Subscription(r.Sagas, d, opts...)
		if err != nil {
			return nil, err
		}
		subs = append(subs, s)
	}
	return append(subs, r.app.Subscriptions...), nil
}

// Run migrates, then runs every subscription, the saga executor, the queue
// consumers, the scheduler and the HTTP API until ctx ends, and stops gracefully. These
// components are supervised as one: when one of them fails, the others
// are stopped and Run returns that failure (named after the component),
// so a supervisor outside (systemd, Kubernetes) restarts the process.
func (r *Runtime) Run(ctx context.Context) error {
	if err := r.cfg.checkHTTP(); err != nil {
		return err
	}
	// Listen before anything else: a taken port fails the start at once,
	// before the process claims any work it could not be managed through.
	var ln net.Listener
	if !r.cfg.httpDisabled() {
		var err error
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", r.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("management API: %w", err)
		}
		defer ln.Close() // on an early return; Serve owns it afterwards
	}
	if _, err := r.Migrate(ctx); err != nil {
		if ctx.Err() != nil {
			// Asked to stop while starting: nothing was claimed yet, so
			// this is a graceful stop like any other, not a failure.
			r.logger.Info("causeway: stopped while starting")
			return nil
		}
		return fmt.Errorf("migrate: %w", err)
	}
	var x *saga.Executor
	if len(r.app.Sagas) > 0 {
		var err error
		x, err = saga.NewExecutor(saga.ExecutorConfig{Store: r.Sagas, Log: r.reader, Owner: r.cfg.MemberID,
			Concurrency: r.cfg.SagaConcurrency, Logger: r.logger, Hooks: r.tel.SagaHooks(),
			TracerProvider: r.tel.TracerProvider()}, r.app.Sagas...)
		if err != nil {
			return err
		}
	}
	subs, err := r.subscriptions(x)
	if err != nil {
		return err
	}
	hooks := r.tel.WorkerHooks()
	var w *worker.Worker
	if len(subs) > 0 {
		w, err = worker.New(worker.Config{Log: r.reader, Checkpoints: r.Checkpoints, Leases: r.leases, MemberID: r.cfg.MemberID,
			LeaseTTL: r.cfg.LeaseTTL, Logger: r.logger, Hooks: hooks, Middleware: r.tel.WrapHandler}, subs...)
		if err != nil {
			return err
		}
	}
	consumers, err := r.queueRunner(ctx)
	if err != nil {
		return err
	}
	sched, err := r.scheduler()
	if err != nil {
		return err
	}

	sup := newSupervisor(ctx, r.logger)
	if consumers != nil {
		sup.start("queue consumers", consumers.Run)
	}
	if w != nil {
		sup.start("worker", w.Run)
	}
	if x != nil {
		sup.start("saga executor", x.Run)
	}
	if sched != nil {
		sup.start("scheduler", sched.Run)
	}
	if r.builds.Versioned() {
		sup.start("builds", r.builds.Run)
	}
	sup.start("metrics", func(ctx context.Context) error {
		return r.tel.Collect(ctx, r.metricsInterval, r.gauges, r.logger)
	})
	if ln != nil {
		srv := &http.Server{Handler: r.apiHandler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(r.logger.Handler(), slog.LevelWarn)}
		r.logger.Info("causeway: management API listening", "addr", ln.Addr().String(), "auth", r.cfg.APIToken != "")
		sup.start("management API", func(ctx context.Context) error { return serve(ctx, srv, ln) })
	}
	r.logger.Info("causeway: running", "app", r.app.Name, "projections", len(r.app.Projections),
		"sagas", len(r.app.Sagas), "subscriptions", len(subs), "consumers", len(r.app.Consumers), "member", r.cfg.MemberID)

	<-sup.ctx.Done()
	r.logger.Info("causeway: stopping")
	return sup.wait()
}

// serve serves HTTP on ln until ctx ends, then shuts down, giving requests
// in flight a few seconds.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err // never http.ErrServerClosed: only Shutdown below closes it
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(<-served, http.ErrServerClosed) && err == nil {
		return nil
	}
	return err
}

// Ops returns the operations over this runtime's stores (the CLI and the
// HTTP API use it).
func (r *Runtime) Ops() *ops.Ops {
	return ops.New(ops.Config{Log: r.Log, Reader: r.reader, Checkpoints: r.Checkpoints, SagaStore: r.Sagas, Queues: r.queues,
		Projections: r.app.Projections, Sagas: r.app.Sagas, Subscriptions: r.app.Subscriptions, Builds: r.builds,
		MemberID: r.cfg.MemberID, LeaseTTL: r.cfg.LeaseTTL, ReadyMaxLag: r.cfg.ReadyMaxLag,
		ReadyMaxHorizon: r.cfg.ReadyMaxHorizon, Logger: r.logger})
}

// apiHandler serves the management API.
func (r *Runtime) apiHandler() http.Handler {
	return api.Handler(api.Config{Ops: r.Ops(), Token: r.cfg.APIToken, Metrics: r.tel.MetricsHandler(), Logger: r.logger})
}

// gauges reads what the metrics' gauges show.
func (r *Runtime) gauges(ctx context.Context) (telemetry.Gauges, error) {
	o := r.Ops()
	st, err := o.Status(ctx)
	if err != nil {
		return telemetry.Gauges{}, err
	}
	qs, err := o.Queues(ctx)
	if err != nil {
		return telemetry.Gauges{}, err
	}
	g := telemetry.Gauges{Subscriptions: st.Subscriptions, HorizonHeld: st.Horizon.Held,
		HorizonAge: st.Horizon.Age, Sagas: st.Sagas, Queues: make(map[string]queue.Stats, len(qs))}
	for _, q := range qs {
		g.Queues[q.Config.Name] = q.Stats
	}
	return g, nil
}

// serviceName is the OpenTelemetry service.name of an app.
func serviceName(app string) string {
	if app == "" {
		return "causeway"
	}
	return app
}

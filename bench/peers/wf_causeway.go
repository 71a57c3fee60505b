package peers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/runtime/migrate"
	"github.com/causewayhq/causeway/saga"
	sagapg "github.com/causewayhq/causeway/saga/postgres"
	"github.com/causewayhq/causeway/worker"
)

// causewayEngine runs the workflow as a Causeway saga, wired the way
// runtime.Run wires an App's sagas (a worker running saga.Subscription
// that hands the instances it starts to a saga.Executor of the same
// process, saga.HandOff; leases on a small pool of their own), so that the executor's Transition hook — which runtime.Run keeps
// for its metrics — tells when each saga completed.
type causewayEngine struct {
	env     *Env
	schema  string
	pool    *pgxpool.Pool
	control *pgxpool.Pool
	store   *pgstore.Store
	size    int
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error
}

type sagaState struct {
	Order string `json:"order"`
}

func openCauseway(ctx context.Context, env *Env, opts Options, insert bool, done func(n int64)) (engine, error) {
	schema, err := env.NewSchema(ctx, "causeway")
	if err != nil {
		return nil, err
	}
	e := &causewayEngine{env: env, schema: schema, size: opts.DataSize}
	if err := e.open(ctx, opts, insert, done); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *causewayEngine) open(ctx context.Context, opts Options, insert bool, done func(n int64)) error {
	var err error
	if e.pool, err = e.env.Pool(ctx, "", 20); err != nil {
		return err
	}
	if e.control, err = e.env.Pool(ctx, "", 4); err != nil {
		return err
	}
	if _, err := migrate.Apply(ctx, e.pool, e.schema); err != nil {
		return err
	}
	steps := pgx.Identifier{e.schema, "steps"}.Sanitize()
	if _, err := e.pool.Exec(ctx, fmt.Sprintf(stepsDDL, steps)); err != nil {
		return err
	}
	if e.store, err = pgstore.New(e.pool, pgstore.Config{Schema: e.schema}); err != nil {
		return err
	}
	sagas, err := sagapg.New(e.store)
	if err != nil {
		return err
	}
	step := func(name string) saga.Option {
		if !insert {
			return saga.Step(name, func(context.Context, *saga.StepContext[sagaState]) error { return nil })
		}
		return saga.Step(name, func(ctx context.Context, sc *saga.StepContext[sagaState]) error {
			n, _ := parseOrderID(sc.CorrelationID)
			_, err := e.pool.Exec(ctx, "INSERT INTO "+steps+" (workflow, step) VALUES ($1, $2)", n, name)
			return err
		})
	}
	def := saga.New[sagaState]("peers_order",
		saga.StartOn(func(_ context.Context, ev eventlog.Envelope[OrderPlaced]) (saga.Start[sagaState], error) {
			return saga.Start[sagaState]{CorrelationID: ev.Data.OrderID, State: sagaState{Order: ev.Data.OrderID}}, nil
		}),
		step("reserve"), step("charge"), step("ship"),
	)
	if err := def.Err(); err != nil {
		return err
	}
	quiet := slog.New(slog.DiscardHandler)
	x, err := saga.NewExecutor(saga.ExecutorConfig{Store: sagas, Log: e.store, Concurrency: opts.Concurrency, Logger: quiet,
		Hooks: saga.Hooks{Transition: func(_, after saga.Instance, _ saga.HistoryEntry) {
			if after.Status == saga.StatusCompleted {
				if n, ok := parseOrderID(after.CorrelationID); ok {
					done(n)
				}
			}
		}}}, def)
	if err != nil {
		return err
	}
	sub, err := saga.Subscription(sagas, def, saga.HandOff(x))
	if err != nil {
		return err
	}
	cps, err := checkpoint.NewPostgres(e.pool, e.schema)
	if err != nil {
		return err
	}
	leases, err := checkpoint.NewPostgres(e.control, e.schema)
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Config{Log: e.store, Checkpoints: cps, Leases: leases, Logger: quiet}, sub)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	for _, run := range []func(context.Context) error{w.Run, x.Run} {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if err := run(rctx); err != nil && !errors.Is(err, context.Canceled) {
				e.errMu.Lock()
				e.err = errors.Join(e.err, err)
				e.errMu.Unlock()
			}
		}()
	}
	return nil
}

// Start appends workflow n's start event to a stream of its own.
func (e *causewayEngine) Start(ctx context.Context, n int64) error {
	_, err := e.store.Append(ctx, "order-"+fmt.Sprint(n), eventlog.NoStream,
		eventlog.EventData{Type: OrderPlaced{}.EventType(), Data: orderJSON(n, e.size)})
	return err
}

func (e *causewayEngine) Close() error {
	if e.cancel != nil {
		e.cancel()
		e.wg.Wait()
	}
	if e.store != nil {
		e.store.Close()
	}
	if e.pool != nil {
		e.pool.Close()
	}
	if e.control != nil {
		e.control.Close()
	}
	e.env.DropSchema(e.schema)
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.err
}

// Steps is the insert variant's table.
func (e *causewayEngine) Steps() string { return pgx.Identifier{e.schema, "steps"}.Sanitize() }

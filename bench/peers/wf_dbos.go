package peers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbosEngine runs the workflow as a DBOS Transact workflow started with
// dbos.RunWorkflow; its handle's GetResult returns once the outcome is
// recorded.
type dbosEngine struct {
	env    *Env
	schema string
	pool   *pgxpool.Pool
	ctx    dbos.Context
	done   func(int64)
	wg     sync.WaitGroup
	failed atomic.Pointer[error]
}

// dbosCurrent is the running DBOS arm's step configuration: DBOS registers
// workflows by function name, so the workflow is a package-level function
// reading it (one DBOS arm runs at a time).
var dbosCurrent atomic.Pointer[dbosSteps]

type dbosSteps struct {
	insert bool
	ds     *dbos.DataSource
	steps  string
}

func dbosWorkflow(ctx dbos.Context, n int64) (int64, error) {
	cur := dbosCurrent.Load()
	for _, name := range []string{"reserve", "charge", "ship"} {
		var err error
		if cur.insert {
			_, err = dbos.RunAsTransaction(ctx, cur.ds, func(ctx context.Context, tx dbos.Tx) (int64, error) {
				_, err := tx.Exec(ctx, "INSERT INTO "+cur.steps+" (workflow, step) VALUES ($1, $2)", n, name)
				return n, err
			}, dbos.WithStepName(name))
		} else {
			_, err = dbos.RunAsStep(ctx, func(context.Context) (int64, error) { return n, nil }, dbos.WithStepName(name))
		}
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

func openDBOS(ctx context.Context, env *Env, opts Options, insert bool, done func(n int64)) (engine, error) {
	schema, err := env.NewSchema(ctx, "dbos")
	if err != nil {
		return nil, err
	}
	e := &dbosEngine{env: env, schema: schema, done: done}
	if err := e.open(ctx, insert); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *dbosEngine) open(ctx context.Context, insert bool) error {
	var err error
	// DBOS's own default for a URL is a 20-connection pool; ours is the
	// same, given so that a data source can share it.
	if e.pool, err = e.env.Pool(ctx, "", 20); err != nil {
		return err
	}
	steps := pgx.Identifier{e.schema, "steps"}.Sanitize()
	if _, err := e.pool.Exec(ctx, fmt.Sprintf(stepsDDL, steps)); err != nil {
		return err
	}
	e.ctx, err = dbos.NewContext(context.Background(), dbos.Config{AppName: "peers", SystemDBPool: e.pool,
		DatabaseSchema: e.schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	cur := &dbosSteps{insert: insert, steps: steps}
	if insert {
		if cur.ds, err = dbos.NewDataSource(e.ctx, e.pool); err != nil {
			return err
		}
	}
	dbosCurrent.Store(cur)
	dbos.RegisterWorkflow(e.ctx, dbosWorkflow)
	return dbos.Launch(e.ctx)
}

// Start runs workflow n and reports it when its result is recorded.
func (e *dbosEngine) Start(_ context.Context, n int64) error {
	h, err := dbos.RunWorkflow(e.ctx, dbosWorkflow, n, dbos.WithWorkflowID(orderID(n)))
	if err != nil {
		return err
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if _, err := h.GetResult(); err != nil {
			e.failed.CompareAndSwap(nil, &err)
			return
		}
		e.done(n)
	}()
	return nil
}

func (e *dbosEngine) Close() error {
	var err error
	if e.ctx != nil {
		err = dbos.Shutdown(e.ctx, 10*time.Second)
		e.wg.Wait()
	}
	if e.pool != nil {
		e.pool.Close()
	}
	e.env.DropSchema(e.schema)
	if p := e.failed.Load(); p != nil {
		err = errors.Join(err, fmt.Errorf("peers: dbos workflow: %w", *p))
	}
	return err
}

// Steps is the insert variant's table.
func (e *dbosEngine) Steps() string { return pgx.Identifier{e.schema, "steps"}.Sanitize() }

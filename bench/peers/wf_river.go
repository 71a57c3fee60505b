package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// riverEngine runs the workflow as three chained River jobs: each step's
// worker, in one transaction, does the step's work, inserts the next
// step's job (InsertTx) and completes itself (JobCompleteTx).
type riverEngine struct {
	env    *Env
	schema string
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	unsub  func()
	ended  chan struct{}
}

// riverStep is a step's job: workflow N, step Step (0, 1, 2). The kind
// differs per step so that each has a worker of its own, as a chain of
// distinct jobs would.
type riverStep struct {
	N    int64 `json:"n"`
	Step int   `json:"step"`
}

type riverReserve struct{ riverStep }
type riverCharge struct{ riverStep }
type riverShip struct{ riverStep }

func (riverReserve) Kind() string { return "peers_reserve" }
func (riverCharge) Kind() string  { return "peers_charge" }
func (riverShip) Kind() string    { return "peers_ship" }

// riverWorker works one step kind; next makes the next step's args (nil
// for the last).
type riverWorker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	pool   *pgxpool.Pool
	steps  string // "" when steps do nothing
	name   string
	nextOf func(n int64) river.JobArgs
	n      func(T) int64
}

func (w *riverWorker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	n := w.n(job.Args)
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if w.steps != "" {
		if _, err := tx.Exec(ctx, "INSERT INTO "+w.steps+" (workflow, step) VALUES ($1, $2)", n, w.name); err != nil {
			return err
		}
	}
	if w.nextOf != nil {
		if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, tx, w.nextOf(n), nil); err != nil {
			return err
		}
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func openRiver(ctx context.Context, env *Env, opts Options, insert bool, done func(n int64)) (engine, error) {
	schema, err := env.NewSchema(ctx, "river")
	if err != nil {
		return nil, err
	}
	e := &riverEngine{env: env, schema: schema}
	if err := e.open(ctx, opts, insert, done); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *riverEngine) open(ctx context.Context, opts Options, insert bool, done func(n int64)) error {
	var err error
	if e.pool, err = e.env.Pool(ctx, "", 20); err != nil {
		return err
	}
	driver := riverpgxv5.New(e.pool)
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: e.schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return err
	}
	steps := ""
	if insert {
		steps = pgx.Identifier{e.schema, "steps"}.Sanitize()
		if _, err := e.pool.Exec(ctx, fmt.Sprintf(stepsDDL, steps)); err != nil {
			return err
		}
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &riverWorker[riverReserve]{pool: e.pool, steps: steps, name: "reserve",
		nextOf: func(n int64) river.JobArgs { return riverCharge{riverStep{N: n, Step: 1}} }, n: func(a riverReserve) int64 { return a.N }})
	river.AddWorker(workers, &riverWorker[riverCharge]{pool: e.pool, steps: steps, name: "charge",
		nextOf: func(n int64) river.JobArgs { return riverShip{riverStep{N: n, Step: 2}} }, n: func(a riverCharge) int64 { return a.N }})
	river.AddWorker(workers, &riverWorker[riverShip]{pool: e.pool, steps: steps, name: "ship", n: func(a riverShip) int64 { return a.N }})
	e.client, err = river.NewClient(driver, &river.Config{
		Schema:        e.schema,
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.RiverMaxWorkers}},
		FetchCooldown: opts.RiverFetchCooldown,
		Workers:       workers,
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	events, unsub := e.client.SubscribeConfig(&river.SubscribeConfig{ChanSize: 100_000, Kinds: []river.EventKind{river.EventKindJobCompleted}})
	e.unsub, e.ended = unsub, make(chan struct{})
	go func() {
		defer close(e.ended)
		for ev := range events {
			if ev.Job.Kind != (riverShip{}).Kind() {
				continue
			}
			var a riverStep
			if json.Unmarshal(ev.Job.EncodedArgs, &a) == nil {
				done(a.N)
			}
		}
	}()
	return e.client.Start(context.Background())
}

// Start inserts workflow n's first job.
func (e *riverEngine) Start(ctx context.Context, n int64) error {
	_, err := e.client.Insert(ctx, riverReserve{riverStep{N: n}}, nil)
	return err
}

func (e *riverEngine) Close() error {
	var err error
	if e.client != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = e.client.Stop(sctx)
		cancel()
	}
	if e.unsub != nil {
		e.unsub()
		<-e.ended
	}
	if e.pool != nil {
		e.pool.Close()
	}
	e.env.DropSchema(e.schema)
	return err
}

// Steps is the insert variant's table.
func (e *riverEngine) Steps() string { return pgx.Identifier{e.schema, "steps"}.Sanitize() }

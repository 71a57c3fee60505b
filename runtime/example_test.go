package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime"
	"github.com/causewayhq/causeway/saga"
)

// The example's events name their types once.
type (
	CustomerRegistered struct {
		Customer string `json:"customer"`
	}
	WelcomeSent struct {
		Customer string `json:"customer"`
	}
)

func (CustomerRegistered) EventType() string { return "CustomerRegistered" }
func (WelcomeSent) EventType() string        { return "WelcomeSent" }

// An App with a projection (a customers table) and a saga (welcome each
// new customer), opened and run until its work is seen done. A program
// gives the same App to runtime.Main instead, for the whole command line.
func Example() {
	customers := projection.New("customers",
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS crm.customers (name text PRIMARY KEY, welcomed bool NOT NULL DEFAULT false)`)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[CustomerRegistered]) error {
			_, err := tx.Exec(ctx, `INSERT INTO crm.customers (name) VALUES ($1) ON CONFLICT DO NOTHING`, e.Data.Customer)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[WelcomeSent]) error {
			_, err := tx.Exec(ctx, `UPDATE crm.customers SET welcomed = true WHERE name = $1`, e.Data.Customer)
			return err
		}),
	)
	welcome := saga.New[CustomerRegistered]("welcome",
		saga.StartOn(func(ctx context.Context, e eventlog.Envelope[CustomerRegistered]) (saga.Start[CustomerRegistered], error) {
			return saga.Start[CustomerRegistered]{CorrelationID: e.Data.Customer, State: e.Data}, nil
		}),
		saga.Step("send", func(ctx context.Context, sc *saga.StepContext[CustomerRegistered]) error {
			// Send the mail here, with sc.IdempotencyKey; then record it.
			e, err := eventlog.Encode(WelcomeSent{Customer: sc.State.Customer})
			sc.Emit("customer-"+sc.CorrelationID, eventlog.Any, e)
			return err
		}),
	)
	app := runtime.App{Name: "crm", Projections: []*projection.Projection{customers}, Sagas: []saga.Saga{welcome}}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := runtime.ConfigFromEnv() // DATABASE_URL, CAUSEWAY_*
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.Schema, cfg.HTTPAddr, cfg.Logger = "crm", "off", slog.New(slog.DiscardHandler)
	r, err := runtime.Open(ctx, app, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	r.Pool().Exec(ctx, `DROP SCHEMA IF EXISTS crm CASCADE`) // a fresh example each run
	if _, err := r.Migrate(ctx); err != nil {               // Run migrates too; here the append comes first
		fmt.Println(err)
		return
	}
	registered, _ := eventlog.Encode(CustomerRegistered{Customer: "ann"})
	r.Log.Append(ctx, "customer-ann", eventlog.NoStream, registered)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }() // until stopped (SIGINT/SIGTERM under Main)

	var welcomed bool
	for !welcomed && ctx.Err() == nil { // the projection sees the saga's event
		time.Sleep(10 * time.Millisecond)
		r.Pool().QueryRow(ctx, `SELECT welcomed FROM crm.customers WHERE name = 'ann'`).Scan(&welcomed)
	}
	stop()
	fmt.Println("welcomed:", welcomed, "run:", <-done)
	// Output: welcomed: true run: <nil>
}

// A program's main: the whole command line (run, migrate, status, replay,
// dlq, sagas, version) for its App.
func ExampleMain() {
	app := runtime.App{Name: "crm" /* Projections, Sagas, Subscriptions … */}
	runtime.Main(app) // exits the process
}

// One command line run in-process, as Main runs os.Args (a test of a
// program's commands, say): migrate, then status as JSON — the shape GET
// /api/status serves (ops.StatusView).
func ExampleExecute() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	pool.Exec(ctx, `DROP SCHEMA IF EXISTS execute_example CASCADE`) // a fresh example each run
	pool.Close()

	app := runtime.App{Name: "crm"}
	var out, errs bytes.Buffer
	code := runtime.Execute(ctx, app, []string{"migrate", "--schema", "execute_example"}, &out, &errs)
	fmt.Println("migrate:", code)

	out.Reset()
	code = runtime.Execute(ctx, app, []string{"status", "--json", "--schema", "execute_example"}, &out, &errs)
	var status map[string]json.RawMessage
	json.Unmarshal(out.Bytes(), &status)
	fmt.Println("status:", code, slices.Sorted(maps.Keys(status)))
	// Output:
	// migrate: 0
	// status: 0 [head horizon sagas subscriptions]
}

package projection_test

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/runtime/migrate"
)

type OrderPlaced struct {
	Customer string  `json:"customer"`
	Total    float64 `json:"total"`
}

// EventType names the event type once; handlers and appends infer it.
func (OrderPlaced) EventType() string { return "OrderPlaced" }

// A read model of each customer's spending, built from OrderPlaced events.
func Example() {
	ctx := context.Background()
	pool, _ := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	defer pool.Close()
	pool.Exec(ctx, `DROP SCHEMA IF EXISTS shop CASCADE`)
	migrate.Apply(ctx, pool, "shop")
	log, _ := postgres.New(pool, postgres.Config{Schema: "shop"})
	checkpoints, _ := checkpoint.NewPostgres(pool, "shop")

	totals := projection.New("customer_totals",
		projection.Categories("order"),
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS shop.customer_totals (customer text PRIMARY KEY, total numeric)`)
			return err
		}),
		projection.OnReset(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `TRUNCATE shop.customer_totals`)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[OrderPlaced]) error {
			_, err := tx.Exec(ctx, `INSERT INTO shop.customer_totals VALUES ($1, $2)
			ON CONFLICT (customer) DO UPDATE SET total = customer_totals.total + excluded.total`, e.Data.Customer, e.Data.Total)
			return err
		}),
	)
	projection.Setup(ctx, pool, "shop", totals)

	for i, o := range []OrderPlaced{{"ann", 20}, {"bob", 5}, {"ann", 12.5}} {
		e, _ := eventlog.Encode(o)
		log.Append(ctx, fmt.Sprintf("order-%d", i), eventlog.NoStream, e)
	}
	// Rebuild here until caught up (in production, runners keep it current).
	projection.Replay(ctx, projection.ReplayConfig{Projection: totals, Log: log, Checkpoints: checkpoints, CatchUp: true})

	var report string
	pool.QueryRow(ctx, `SELECT string_agg(customer || ': ' || total, ', ' ORDER BY customer) FROM shop.customer_totals`).Scan(&report)
	fmt.Println(report)
	// Output: ann: 32.5, bob: 5
}

// A versioned projection: its tables are unqualified (each build writes
// into a schema of its own), and readers read the live schema's views.
// Raising the version in a deployment builds the new version beside the
// live one; Builds (run by every runner) switches readers when it has
// caught up.
func ExampleVersion() {
	totals := projection.New("customer_totals",
		projection.Version(2),
		projection.Schema("customer_totals"), // the default: the name
		projection.Categories("order"),
		projection.OnSetup(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS totals (customer text PRIMARY KEY, total numeric)`)
			return err
		}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[OrderPlaced]) error {
			_, err := tx.Exec(ctx, `INSERT INTO totals VALUES ($1, $2)
			ON CONFLICT (customer) DO UPDATE SET total = totals.total + excluded.total`, e.Data.Customer, e.Data.Total)
			return err
		}),
	)
	fmt.Println("readers query", projection.LiveSchema(totals)+".totals")
	// Output: readers query customer_totals.totals
}

package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker/queue"
	"github.com/causewayhq/causeway/worker/queue/postgres"
)

// The process tests re-execute the test binary as consumer processes: with
// childEnv set (to the mode), TestMain runs runChild instead of the tests.
const childEnv = "CW_QUEUE_CHILD"

// runChild runs a Runner consuming queue "jobs" of CW_SCHEMA until SIGTERM
// (graceful) or SIGKILL. Mode "hold": each handler records its message in
// table held and never returns. Mode "consume": each handler records its
// hold (message, receipt, start, end) in table holds and succeeds; at the
// stop the process records its outcome counts in table outcomes.
func runChild() int {
	return pgtest.ChildMain(func(ctx context.Context, pool *pgxpool.Pool, schema string) error {
		s, err := postgres.New(pool, postgres.Schema(schema))
		if err != nil {
			return err
		}
		defer s.Close()
		table := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
		proc := os.Getenv("CW_PROC")
		var (
			mu       sync.Mutex
			outcomes = map[queue.Outcome]int{}
			cfg      = queue.RunnerConfig{
				PollInterval: 100 * time.Millisecond,
				OnHandled: func(_ string, o queue.Outcome, _ time.Duration) {
					mu.Lock()
					outcomes[o]++
					mu.Unlock()
				},
			}
			c queue.Consumer
		)
		switch mode := os.Getenv(childEnv); mode {
		case "hold":
			c = queue.NewConsumer("jobs", queue.Concurrency(5), queue.Visibility(time.Second),
				queue.HandleRaw(func(ctx context.Context, d queue.Delivery) error {
					if _, err := pool.Exec(ctx, `INSERT INTO `+table("held")+` (id) VALUES ($1)`, d.ID); err != nil {
						return err
					}
					<-ctx.Done()
					return ctx.Err()
				}))
		case "consume":
			c = queue.NewConsumer("jobs", queue.Concurrency(4),
				queue.HandleRaw(func(ctx context.Context, d queue.Delivery) error {
					if _, err := pool.Exec(ctx, `INSERT INTO `+table("holds")+` (id, receipt, proc, started)
						VALUES ($1, $2, $3, clock_timestamp())`, d.ID, string(d.Receipt), proc); err != nil {
						return err
					}
					time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
					_, err := pool.Exec(ctx, `UPDATE `+table("holds")+` SET ended = clock_timestamp() WHERE receipt = $1`, string(d.Receipt))
					return err
				}))
		default:
			return fmt.Errorf("unknown mode %q", mode)
		}
		r, err := queue.NewRunner(s, cfg, c)
		if err != nil {
			return err
		}
		if err := r.Run(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for o, n := range outcomes {
			if _, err := pool.Exec(context.Background(), `INSERT INTO `+table("outcomes")+` (proc, outcome, n) VALUES ($1, $2, $3)`,
				proc, string(o), n); err != nil {
				return err
			}
		}
		return nil
	})
}

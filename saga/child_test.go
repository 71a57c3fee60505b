package saga_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/saga"
	sagapg "github.com/causewayhq/causeway/saga/postgres"
	"github.com/causewayhq/causeway/saga/sagatest"
)

// The multi-process tests re-execute the test binary as executor
// processes: with childEnv set, TestMain runs runChild.
const childEnv = "CAUSEWAY_SAGA_CHILD"

// effectDefinitions are scripted sagas (see sagatest.Script) of 1–5 steps
// whose steps have an effect in PostgreSQL, keyed by their idempotency key
// (applied once however often the step runs), and log every execution. Each
// step holds an advisory lock on its saga while it runs: failing to get it
// means two executors run one saga at the same time.
func effectDefinitions(pool *pgxpool.Pool, schema, owner string, slow time.Duration) []saga.Saga {
	var defs []saga.Saga
	fast := saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}
	for n := 1; n <= 5; n++ {
		opts := []saga.Option{
			saga.StartOnType(fmt.Sprintf("Start%d", n), func(ctx context.Context, e eventlog.Envelope[sagatest.Script]) (saga.Start[sagatest.Script], error) {
				return saga.Start[sagatest.Script]{CorrelationID: e.StreamID, State: e.Data}, nil
			}),
		}
		for i := 1; i <= n; i++ {
			effect := func(kind string, fail bool) saga.StepFunc[sagatest.Script] {
				return func(ctx context.Context, sc *saga.StepContext[sagatest.Script]) error {
					if fail {
						return errors.New("scripted failure")
					}
					conn, err := pool.Acquire(ctx)
					if err != nil {
						return err
					}
					defer conn.Release()
					key := lockKey(sc.SagaID.String())
					var got bool
					if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
						return err
					}
					if got {
						defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
					} else {
						_, _ = conn.Exec(ctx, `INSERT INTO `+schema+`.overlaps (saga, step) VALUES ($1, $2)`, sc.CorrelationID, sc.Step)
					}
					if _, err := conn.Exec(ctx, `INSERT INTO `+schema+`.executions (saga, what, owner) VALUES ($1, $2, $3)`, sc.CorrelationID, kind, owner); err != nil {
						return err
					}
					if slow > 0 {
						time.Sleep(time.Duration(rand.Int64N(int64(slow))))
					}
					_, err = conn.Exec(ctx, `INSERT INTO `+schema+`.effects (key, saga, what) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
						sc.IdempotencyKey, sc.CorrelationID, kind)
					return err
				}
			}
			i := i
			opts = append(opts, saga.Step(fmt.Sprintf("T%d", i), func(ctx context.Context, sc *saga.StepContext[sagatest.Script]) error {
				return effect(fmt.Sprintf("T%d", i), sc.State.FailAt == i)(ctx, sc)
			}, saga.Retry(fast), saga.Timeout(5*time.Second),
				saga.Compensate(func(ctx context.Context, sc *saga.StepContext[sagatest.Script]) error {
					return effect(fmt.Sprintf("C%d", i), sc.State.FailComp == i)(ctx, sc)
				})))
		}
		defs = append(defs, saga.New[sagatest.Script](fmt.Sprintf("effects%d", n), opts...))
	}
	return defs
}

func effectTables(schema string) string {
	return `CREATE TABLE ` + schema + `.effects (seq bigserial, key text PRIMARY KEY, saga text NOT NULL, what text NOT NULL);
		CREATE TABLE ` + schema + `.executions (seq bigserial, saga text NOT NULL, what text NOT NULL, owner text NOT NULL);
		CREATE TABLE ` + schema + `.overlaps (saga text NOT NULL, step text NOT NULL)`
}

func lockKey(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64())
}

// runChild runs an executor over effectDefinitions until SIGTERM or SIGKILL.
func runChild() int {
	return pgtest.ChildMain(func(ctx context.Context, pool *pgxpool.Pool, schema string) error {
		slow, _ := time.ParseDuration(os.Getenv("CW_SLOW"))
		log, err := pgstore.New(pool, pgstore.Config{Schema: schema})
		if err != nil {
			return err
		}
		store, err := sagapg.New(log)
		if err != nil {
			return err
		}
		x, err := saga.NewExecutor(saga.ExecutorConfig{Store: store, Log: log, Owner: os.Getenv("CW_OWNER"),
			PollInterval: 20 * time.Millisecond, LeaseMargin: time.Second, Concurrency: 8},
			effectDefinitions(pool, schema, os.Getenv("CW_OWNER"), slow)...)
		if err != nil {
			return err
		}
		_ = x.Run(ctx)
		return nil
	})
}

func spawnExecutor(t *testing.T, e *pgEnv, url, owner string, slow time.Duration) *pgtest.Child {
	t.Helper()
	return pgtest.SpawnSelf(t, owner, childEnv+"=1", "DATABASE_URL="+url, "CW_SCHEMA="+e.schema, "CW_OWNER="+owner, "CW_SLOW="+slow.String())
}

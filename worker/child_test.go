package worker_test

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

// The multi-process tests re-execute the test binary as worker processes:
// with childEnv set, TestMain runs runChild instead of the tests.
const childEnv = "CAUSEWAY_WORKER_CHILD"

// runChild runs one worker member of subscription "rm" over the read-model
// handler until SIGTERM (graceful) or SIGKILL.
func runChild() int {
	return pgtest.ChildMain(func(ctx context.Context, pool *pgxpool.Pool, schema string) error {
		member := os.Getenv("CW_MEMBER")
		ttlMS, _ := strconv.Atoi(os.Getenv("CW_TTL_MS"))
		log, err := pgstore.New(pool, pgstore.Config{Schema: schema})
		if err != nil {
			return err
		}
		defer log.Close()
		cps, err := checkpoint.NewPostgres(pool, schema)
		if err != nil {
			return err
		}
		w, err := worker.New(worker.Config{Log: log, Checkpoints: cps, MemberID: member, LeaseTTL: time.Duration(ttlMS) * time.Millisecond},
			worker.NewSubscription("rm", worker.BatchSize(50), worker.OnAny(readModelHandler(schema))))
		if err != nil {
			return err
		}
		_ = w.Run(ctx)
		return nil
	})
}

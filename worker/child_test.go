package worker_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/worker"
)

// The multi-process tests re-execute the test binary as worker processes:
// with childEnv set, TestMain runs runChild instead of the tests.
const childEnv = "CAUSEWAY_WORKER_CHILD"

// runChild runs one worker member of subscription "rm" over the read-model
// handler until SIGTERM (graceful) or SIGKILL.
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	schema, member := os.Getenv("CW_SCHEMA"), os.Getenv("CW_MEMBER")
	ttlMS, _ := strconv.Atoi(os.Getenv("CW_TTL_MS"))
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer pool.Close()
	log, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer log.Close()
	cps, err := checkpoint.NewPostgres(pool, schema)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	w, err := worker.New(worker.Config{Log: log, Checkpoints: cps, MemberID: member, LeaseTTL: time.Duration(ttlMS) * time.Millisecond},
		worker.Subscription{Name: "rm", Handler: readModelHandler(schema), BatchSize: 50})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	_ = w.Run(ctx)
	return 0
}

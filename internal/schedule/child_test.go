package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The multi-process test re-executes the test binary: with childEnv set,
// TestMain runs runChild instead of the tests.
const childEnv = "CAUSEWAY_SCHEDULE_CHILD"

// runChild runs a scheduler with job "tick" (@every 1s, recording each fire)
// until SIGTERM (graceful) or SIGKILL.
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	schema, member := os.Getenv("CW_SCHEMA"), os.Getenv("CW_MEMBER")
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer pool.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", member)
	s, err := New(Config{
		Pool: pool, Schema: schema, MemberID: member, Logger: logger,
		RetryInterval: 200 * time.Millisecond, CheckInterval: 200 * time.Millisecond,
		Jobs: []Job{{Name: "tick", Spec: "@every 1s", Run: recordFire(pool, schema, "tick", member)}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

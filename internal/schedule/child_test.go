package schedule

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/pgtest"
)

// The multi-process test re-executes the test binary: with childEnv set,
// TestMain runs runChild instead of the tests.
const childEnv = "CAUSEWAY_SCHEDULE_CHILD"

// runChild runs a scheduler with job "tick" (@every 1s, recording each fire)
// until SIGTERM (graceful) or SIGKILL.
func runChild() int {
	return pgtest.ChildMain(func(ctx context.Context, pool *pgxpool.Pool, schema string) error {
		member := os.Getenv("CW_MEMBER")
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", member)
		s, err := New(Config{
			Pool: pool, Schema: schema, MemberID: member, Logger: logger,
			RetryInterval: 200 * time.Millisecond, CheckInterval: 200 * time.Millisecond,
			Jobs: []Job{{Name: "tick", Spec: "@every 1s", Run: recordFire(pool, schema, "tick", member)}},
		})
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}

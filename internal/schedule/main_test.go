package schedule

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/internal/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	pgtest.Main(m)
}

// env is one test's migrated schema with a fires table that test jobs
// write to.
type env struct {
	schema string
	pool   *pgxpool.Pool
}

func newEnv(t testing.TB) *env {
	t.Helper()
	schema, pool := pgtest.NewSchema(t)
	ctx := pgtest.Context(t, time.Minute)
	if _, err := migrations.Apply(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, firesDDL(schema)); err != nil {
		t.Fatal(err)
	}
	return &env{schema: schema, pool: pool}
}

func firesDDL(schema string) string {
	return `CREATE TABLE ` + schema + `.fires (
		job text NOT NULL, scheduled_at timestamptz NOT NULL, process text NOT NULL,
		fired_at timestamptz NOT NULL DEFAULT clock_timestamp())`
}

// recordFire is a job body: it inserts (job, scheduled time, process).
func recordFire(pool *pgxpool.Pool, schema, name, process string) func(context.Context) error {
	return func(ctx context.Context) error {
		at, _ := ScheduledAt(ctx)
		_, err := pool.Exec(ctx, `INSERT INTO `+schema+`.fires (job, scheduled_at, process) VALUES ($1, $2, $3)`, name, at, process)
		return err
	}
}

type fire struct {
	Job         string
	ScheduledAt time.Time
	Process     string
	FiredAt     time.Time
}

func (e *env) fires(t testing.TB, job string) []fire {
	t.Helper()
	rows, err := e.pool.Query(pgtest.Context(t, time.Minute), `SELECT job, scheduled_at, process, fired_at FROM `+e.schema+`.fires
		WHERE job = $1 ORDER BY scheduled_at, fired_at`, job)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []fire
	for rows.Next() {
		var f fire
		if err := rows.Scan(&f.Job, &f.ScheduledAt, &f.Process, &f.FiredAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) state(t testing.TB, name string) State {
	t.Helper()
	states, err := States(pgtest.Context(t, time.Minute), e.pool, e.schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.Name == name {
			return s
		}
	}
	return State{Name: name}
}

// start runs a scheduler in this process; the returned function stops it
// and waits for Run to return.
func (e *env) start(t testing.TB, member string, cfg Config) func() {
	t.Helper()
	cfg.Pool, cfg.Schema, cfg.MemberID = e.pool, e.schema, member
	cfg.RetryInterval, cfg.CheckInterval = 100*time.Millisecond, 100*time.Millisecond
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", member)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

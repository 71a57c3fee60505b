package schedule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/migrations"
)

// Run statuses in the schedules table.
const (
	StatusRunning   = "running"   // claimed, not finished (or its leader died)
	StatusOK        = "ok"        // returned nil
	StatusFailed    = "failed"    // returned an error or panicked
	StatusCancelled = "cancelled" // stopped by shutdown or loss of leadership
)

// State is a job's durable state: one row of the schedules table.
type State struct {
	Name string
	// LastRunAt is the scheduled time of the last claimed run (nil: never).
	LastRunAt *time.Time
	// LastStartedAt is when that run actually started.
	LastStartedAt *time.Time
	LastRunBy     string
	LastStatus    string
	LastError     string
	LastResult    string
	LastDuration  time.Duration
	Runs          int64
	Failures      int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// store runs the schedules table's statements.
type store struct {
	pool  *pgxpool.Pool
	table string
}

func newStore(pool *pgxpool.Pool, schema string) store {
	return store{pool: pool, table: pgx.Identifier{schema}.Sanitize() + ".schedules"}
}

const stateColumns = `name, last_run_at, last_started_at, last_run_by, last_status, last_error, last_result,
	coalesce(last_duration_ms, 0), runs, failures, created_at, updated_at`

func scanState(row pgx.Row) (State, error) {
	var s State
	var ms int64
	err := row.Scan(&s.Name, &s.LastRunAt, &s.LastStartedAt, &s.LastRunBy, &s.LastStatus, &s.LastError,
		&s.LastResult, &ms, &s.Runs, &s.Failures, &s.CreatedAt, &s.UpdatedAt)
	s.LastDuration = time.Duration(ms) * time.Millisecond
	return s, err
}

// ensure creates the state rows of jobs that have none.
func (s store) ensure(ctx context.Context, names []string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.table+` (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`, names)
	if err != nil {
		return fmt.Errorf("schedule: create state rows: %w", err)
	}
	return nil
}

// load reads one job's state.
func (s store) load(ctx context.Context, name string) (State, error) {
	st, err := scanState(s.pool.QueryRow(ctx, `SELECT `+stateColumns+` FROM `+s.table+` WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		if err := s.ensure(ctx, []string{name}); err != nil {
			return st, err
		}
		return s.load(ctx, name)
	}
	if err != nil {
		return st, fmt.Errorf("schedule: read state of %s: %w", name, err)
	}
	return st, nil
}

// claim moves last_run_at from prev to due and reports whether this call
// did it. A leader that overlaps briefly with another (the old one has not
// noticed yet that its connection died) loses this compare-and-set, so one
// scheduled time runs at most once.
func (s store) claim(ctx context.Context, name string, prev *time.Time, due time.Time, member string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE `+s.table+`
		SET last_run_at = $3, last_started_at = now(), last_run_by = $4, last_status = $5,
		    last_error = '', last_result = '', last_duration_ms = NULL, updated_at = now()
		WHERE name = $1 AND last_run_at IS NOT DISTINCT FROM $2`, name, prev, due, member, StatusRunning)
	if err != nil {
		return false, fmt.Errorf("schedule: claim %s at %s: %w", name, due.Format(time.RFC3339), err)
	}
	return tag.RowsAffected() == 1, nil
}

// finish records the outcome of the run claimed at due.
func (s store) finish(ctx context.Context, name string, due time.Time, status, errText, result string, d time.Duration) error {
	failed := 0
	if status == StatusFailed {
		failed = 1
	}
	_, err := s.pool.Exec(ctx, `UPDATE `+s.table+`
		SET last_status = $3, last_error = $4, last_result = $5, last_duration_ms = $6,
		    runs = runs + 1, failures = failures + $7, updated_at = now()
		WHERE name = $1 AND last_run_at = $2`, name, due, status, errText, result, d.Milliseconds(), failed)
	if err != nil {
		return fmt.Errorf("schedule: record run of %s at %s: %w", name, due.Format(time.RFC3339), err)
	}
	return nil
}

// States lists the durable state of every job that has run or been
// registered in schema, by name.
func States(ctx context.Context, pool *pgxpool.Pool, schema string) ([]State, error) {
	if err := migrations.ValidateSchema(schema); err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT `+stateColumns+` FROM `+newStore(pool, schema).table+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("schedule: list states: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (State, error) { return scanState(r) })
	if err != nil {
		return nil, fmt.Errorf("schedule: list states: %w", err)
	}
	return out, nil
}

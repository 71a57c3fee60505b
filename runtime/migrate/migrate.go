// Package migrate is Causeway's database migrations: every table of every
// Causeway package, in one PostgreSQL schema (default "causeway"), applied
// in order, each in its own transaction with its row in the schema's
// schema_migrations table.
//
// Apply is what runtime.Run and `migrate` do: it runs under an advisory
// lock keyed by the schema, so any number of processes may call it at once
// (one applies, the others wait and find nothing to do). Migrations are
// forward-only; a database newer than the binary is refused
// (ErrDatabaseNewer).
//
// Teams that run migrations with their own tool take the SQL from All:
// each Migration's SQL is a standalone script that also records itself in
// schema_migrations, so Apply (and runtime.Run) later find the schema up
// to date and change nothing.
package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/migrations"
)

// DefaultSchema is the schema of Causeway's tables unless configured.
const DefaultSchema = migrations.DefaultSchema

// ErrInvalidSchema: a schema name other than lower-case letters, digits
// and _, starting with a letter or _, at most 63 bytes.
var ErrInvalidSchema = migrations.ErrInvalidSchema

// ErrDatabaseNewer: the schema has migrations this binary does not know.
var ErrDatabaseNewer = migrations.ErrDatabaseNewer

// ValidateSchema returns ErrInvalidSchema (wrapped) for a schema name
// Causeway does not accept.
func ValidateSchema(schema string) error { return migrations.ValidateSchema(schema) }

// Migration is one migration.
type Migration struct {
	Version int    // 1, 2, … without gaps
	Name    string // e.g. "eventlog"
	// SQL is the standalone script for a schema (see All); set by All
	// and Status.
	SQL string
	// AppliedAt is when it was applied; zero when pending.
	AppliedAt time.Time
}

// FileName is the migration's file name for a migration tool:
// "0001_eventlog.sql".
func (m Migration) FileName() string { return fmt.Sprintf("%04d_%s.sql", m.Version, m.Name) }

// All returns every migration in order, its SQL written for schema: the
// statements, then the INSERT that records it in schema_migrations (the
// first also creates the schema and that table). Run them in order, each
// in one transaction.
func All(schema string) ([]Migration, error) {
	if err := ValidateSchema(schema); err != nil {
		return nil, err
	}
	all, err := migrations.All()
	if err != nil {
		return nil, err
	}
	out := make([]Migration, len(all))
	for i, m := range all {
		out[i] = Migration{Version: m.Version, Name: m.Name, SQL: m.Script(schema)}
	}
	return out, nil
}

// Apply brings schema up to date and returns the versions it applied (none
// when it was current). Safe to call from many processes at once.
func Apply(ctx context.Context, pool *pgxpool.Pool, schema string) ([]int, error) {
	return migrations.Apply(ctx, pool, schema)
}

// Status lists the migrations applied to schema (with when) and those
// pending, each in order. A schema with migrations this binary does not
// know returns ErrDatabaseNewer along with the lists.
func Status(ctx context.Context, pool *pgxpool.Pool, schema string) (applied, pending []Migration, err error) {
	all, err := All(schema)
	if err != nil {
		return nil, nil, err
	}
	recs, err := migrations.Applied(ctx, pool, schema)
	if err != nil {
		return nil, nil, err
	}
	done := make(map[int]time.Time, len(recs))
	for _, r := range recs {
		done[r.Version] = r.AppliedAt
	}
	for _, m := range all {
		if at, ok := done[m.Version]; ok {
			m.AppliedAt = at
			applied = append(applied, m)
			delete(done, m.Version)
		} else {
			pending = append(pending, m)
		}
	}
	if len(done) > 0 {
		err = fmt.Errorf("%w: schema %s has %d migrations this binary does not know", ErrDatabaseNewer, schema, len(done))
	}
	return applied, pending, err
}

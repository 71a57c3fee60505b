package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSchema is the PostgreSQL schema Causeway uses unless configured.
const DefaultSchema = "causeway"

//go:embed sql/*.sql
var files embed.FS

// ErrInvalidSchema is returned for a schema name that is not a plain
// lower-case identifier.
var ErrInvalidSchema = errors.New("migrations: invalid schema name")

// ErrDatabaseNewer is returned when the database has migrations this binary
// does not know: a newer release migrated it.
var ErrDatabaseNewer = errors.New("migrations: database schema is newer than this binary")

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidateSchema checks a schema name: lower-case letters, digits and
// underscores, not starting with a digit, at most 63 bytes.
func ValidateSchema(schema string) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("%w: %q (want lower-case letters, digits and _, starting with a letter or _, at most 63 bytes)", ErrInvalidSchema, schema)
	}
	return nil
}

// Migration is one embedded migration.
type Migration struct {
	Version int
	Name    string
	sql     string
}

// All returns the embedded migrations in order.
func All() ([]Migration, error) {
	entries, err := fs.ReadDir(files, "sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: read embedded files: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migrations: bad file name %q (want NNNN_name.sql)", e.Name())
		}
		b, err := files.ReadFile(path.Join("sql", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: read %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: name, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations: versions must be 1..n without gaps, found %d at #%d", m.Version, i+1)
		}
	}
	return out, nil
}

// SQL returns the migration's statements for a schema.
func (m Migration) SQL(schema string) string {
	return strings.ReplaceAll(m.sql, "{{schema}}", pgx.Identifier{schema}.Sanitize())
}

// LockKey is the advisory-lock key migrations hold for a schema.
func LockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("causeway-migrate:" + schema))
	return int64(h.Sum64())
}

// Apply brings schema up to date and returns the versions it applied (none
// when already current). Safe to call from many processes at once.
func Apply(ctx context.Context, pool *pgxpool.Pool, schema string) ([]int, error) {
	if err := ValidateSchema(schema); err != nil {
		return nil, err
	}
	all, err := All()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: acquire connection: %w", err)
	}
	defer conn.Release()

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", LockKey(schema)); err != nil {
		return nil, fmt.Errorf("migrations: take lock: %w", err)
	}
	defer func() {
		// Unlock on a fresh context: the caller's may be cancelled already.
		// If even that fails the connection is closed, which drops the lock.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", LockKey(schema)); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()

	qs := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+qs); err != nil {
		return nil, fmt.Errorf("migrations: create schema %s: %w", schema, err)
	}
	if _, err := conn.Exec(ctx, versionTableDDL(qs)); err != nil {
		return nil, fmt.Errorf("migrations: create version table: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+qs+`.schema_migrations`).Scan(&current); err != nil {
		return nil, fmt.Errorf("migrations: read version: %w", err)
	}
	if current > len(all) {
		return nil, fmt.Errorf("%w: schema %s is at version %d, this binary knows %d", ErrDatabaseNewer, schema, current, len(all))
	}
	var applied []int
	for _, m := range all[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL(schema)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO `+qs+`.schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrations: apply %04d_%s to schema %s: %w", m.Version, m.Name, schema, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// Version returns the schema's applied version (0 when not migrated).
func Version(ctx context.Context, pool *pgxpool.Pool, schema string) (int, error) {
	if err := ValidateSchema(schema); err != nil {
		return 0, err
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema+".schema_migrations").Scan(&exists); err != nil {
		return 0, fmt.Errorf("migrations: read version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+pgx.Identifier{schema}.Sanitize()+`.schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("migrations: read version: %w", err)
	}
	return v, nil
}

// Script returns the migration as a standalone script for a migration tool
// of one's own: its statements followed by the row that records it in the
// schema's version table, and, for the first migration, preceded by the
// schema and that table. So a schema migrated this way is one Apply finds
// up to date.
func (m Migration) Script(schema string) string {
	qs := pgx.Identifier{schema}.Sanitize()
	var b strings.Builder
	if m.Version == 1 {
		b.WriteString("CREATE SCHEMA IF NOT EXISTS " + qs + ";\n" + versionTableDDL(qs) + ";\n\n")
	}
	body := strings.TrimRight(m.SQL(schema), " \t\r\n")
	if !strings.HasSuffix(body, ";") {
		body += "\n;" // on its own line: the file may end in a comment
	}
	b.WriteString(body)
	b.WriteString("\n\nINSERT INTO " + qs + ".schema_migrations (version, name) VALUES (" +
		strconv.Itoa(m.Version) + ", '" + strings.ReplaceAll(m.Name, "'", "''") + "');\n")
	return b.String()
}

// versionTableDDL creates the version table of the schema qs (quoted).
func versionTableDDL(qs string) string {
	return `CREATE TABLE IF NOT EXISTS ` + qs + `.schema_migrations (
		version    int PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`
}

// Record is an applied migration as the version table holds it.
type Record struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

// Applied lists the migrations applied to schema, in order (none when it
// was never migrated).
func Applied(ctx context.Context, pool *pgxpool.Pool, schema string) ([]Record, error) {
	if err := ValidateSchema(schema); err != nil {
		return nil, err
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema+".schema_migrations").Scan(&exists); err != nil {
		return nil, fmt.Errorf("migrations: read applied: %w", err)
	}
	if !exists {
		return nil, nil
	}
	rows, err := pool.Query(ctx, `SELECT version, name, applied_at FROM `+pgx.Identifier{schema}.Sanitize()+`.schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("migrations: read applied: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Record, error) {
		var rec Record
		err := r.Scan(&rec.Version, &rec.Name, &rec.AppliedAt)
		return rec, err
	})
	if err != nil {
		return nil, fmt.Errorf("migrations: read applied: %w", err)
	}
	return out, nil
}

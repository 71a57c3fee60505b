package migrate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/runtime/migrate"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStatus: a fresh schema has every migration pending; after Apply every
// one is applied, with its time, and none pending.
func TestStatus(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	_, pool := pgtest.NewSchema(t)
	const schema = "migrate_status"
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	all, err := migrate.All(schema)
	if err != nil {
		t.Fatal(err)
	}
	applied, pending, err := migrate.Status(ctx, pool, schema)
	if err != nil || len(applied) != 0 || len(pending) != len(all) {
		t.Fatalf("before: %d applied, %d pending of %d, %v", len(applied), len(pending), len(all), err)
	}
	if _, err := migrate.Apply(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	applied, pending, err = migrate.Status(ctx, pool, schema)
	if err != nil || len(applied) != len(all) || len(pending) != 0 {
		t.Fatalf("after: %d applied, %d pending of %d, %v", len(applied), len(pending), len(all), err)
	}
	for i, m := range applied {
		if m.Version != i+1 || m.AppliedAt.IsZero() || m.Name != all[i].Name {
			t.Fatalf("applied #%d: %+v", i, m)
		}
	}
	// A migration this binary does not know: refused, not ignored.
	if _, err := pool.Exec(ctx, `INSERT INTO `+schema+`.schema_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := migrate.Status(ctx, pool, schema); !errors.Is(err, migrate.ErrDatabaseNewer) {
		t.Fatalf("newer database: %v", err)
	}
	if _, _, err := migrate.Status(ctx, pool, "Bad-Name"); !errors.Is(err, migrate.ErrInvalidSchema) {
		t.Fatalf("bad schema name: %v", err)
	}
}

// TestScriptsWithOwnTool runs All's scripts as another migration tool
// would (each in one transaction, nothing else): the schema ends up with
// the same tables and columns as Apply makes, and Apply then finds nothing
// to do.
func TestScriptsWithOwnTool(t *testing.T) {
	ctx := pgtest.Context(t, time.Minute)
	_, pool := pgtest.NewSchema(t)
	const tool, ours = "migrate_tool", "migrate_ours"
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+tool+" CASCADE; DROP SCHEMA IF EXISTS "+ours+" CASCADE")
	})
	all, err := migrate.All(tool)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, m.SQL)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", m.FileName(), err)
		}
	}
	if got, err := migrate.Apply(ctx, pool, tool); err != nil || len(got) != 0 {
		t.Fatalf("Apply after the tool: applied %v, %v (want nothing)", got, err)
	}
	if _, err := migrate.Apply(ctx, pool, ours); err != nil {
		t.Fatal(err)
	}
	columns := func(schema string) map[string]string {
		rows, err := pool.Query(ctx, `SELECT table_name || '.' || column_name, data_type FROM information_schema.columns WHERE table_schema = $1`, schema)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for rows.Next() {
			var c, typ string
			if err := rows.Scan(&c, &typ); err != nil {
				t.Fatal(err)
			}
			out[c] = typ
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := columns(tool), columns(ours)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d columns from the scripts, %d from Apply", len(a), len(b))
	}
	for c, typ := range b {
		if a[c] != typ {
			t.Fatalf("column %s: %q from the scripts, %q from Apply", c, a[c], typ)
		}
	}
}

package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker/queue/postgres"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	pgtest.Main(m)
}

func testCtx(t testing.TB) context.Context { return pgtest.Context(t, 3*time.Minute) }

// newStore returns a store in a fresh, migrated schema.
func newStore(t testing.TB, opts ...postgres.StoreOption) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	schema, pool := pgtest.NewMigratedSchema(t)
	return storeIn(t, pool, schema, opts...), pool
}

// storeIn returns a store on pool in schema, closed at cleanup.
func storeIn(t testing.TB, pool *pgxpool.Pool, schema string, opts ...postgres.StoreOption) *postgres.Store {
	t.Helper()
	s, err := postgres.New(pool, append([]postgres.StoreOption{postgres.Schema(schema)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// otherPool is a pool of its own, as another process would have.
func otherPool(t testing.TB, connURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(testCtx(t), connURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

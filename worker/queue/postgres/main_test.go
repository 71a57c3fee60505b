package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker/queue/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func testCtx(t testing.TB) context.Context { return pgtest.Context(t, 3*time.Minute) }

// newStore returns a store in a fresh, migrated schema.
func newStore(t testing.TB) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	schema, pool := pgtest.NewMigratedSchema(t)
	s, err := postgres.New(pool, postgres.Schema(schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, pool
}

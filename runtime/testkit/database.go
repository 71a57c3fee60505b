package testkit

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/pgtest"
)

// Main runs a package's tests with a PostgreSQL server for Database: the
// one DATABASE_URL names, or else a throwaway cluster started from the
// machine's PostgreSQL binaries (no set-up) and stopped afterwards. Call it
// from TestMain; it does not return.
//
//	func TestMain(m *testing.M) { testkit.Main(m) }
func Main(m *testing.M) { pgtest.Main(m) }

// Database returns a pool on a fresh, empty database of the server Main
// chose, for a projection's read model or the tables a saga's steps write.
// The pool is closed and the database dropped when the test ends.
func Database(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(tb.Context(), pgtest.NewDatabase(tb))
	if err != nil {
		tb.Fatalf("testkit: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

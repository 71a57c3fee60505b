package pgtest

import (
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// WithAppName returns connURL with an application_name, to find its
// connections in pg_stat_activity (a LISTEN connection, say).
func WithAppName(tb testing.TB, connURL, app string) string {
	tb.Helper()
	u, err := url.Parse(connURL)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String()
}

// ListenerPID waits up to 10 s for a LISTEN connection opened with
// application name app, and returns its backend pid.
func ListenerPID(tb testing.TB, pool *pgxpool.Pool, app string) int {
	tb.Helper()
	ctx := Context(tb, 15*time.Second)
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, app).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no LISTEN connection with application_name %s (its URL not used?): %v", app, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

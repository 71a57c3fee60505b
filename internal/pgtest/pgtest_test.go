package pgtest

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func exists(t *testing.T, sql, name string) bool {
	t.Helper()
	var ok bool
	if err := connect(t, URL(t)).QueryRow(context.Background(), sql, name).Scan(&ok); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return ok
}

func schemaExists(t *testing.T, name string) bool {
	return exists(t, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", name)
}

func databaseExists(t *testing.T, name string) bool {
	return exists(t, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name)
}

func TestURLAndCluster(t *testing.T) {
	t.Parallel()
	url := URL(t)
	if os.Getenv("DATABASE_URL") != url {
		t.Fatalf("DATABASE_URL = %q, URL = %q", os.Getenv("DATABASE_URL"), url)
	}
	if c := Cluster(); c != nil && c.URL("") != url {
		t.Fatalf("Cluster().URL = %q, URL = %q", c.URL(""), url)
	}
	var one int
	if err := connect(t, url).QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func TestNewSchemaIsolatesAndCleansUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var names [2]string
	var pools [2]*pgxpool.Pool
	t.Run("use", func(t *testing.T) {
		s1, p1 := NewSchema(t)
		s2, p2 := NewSchema(t)
		names, pools[0], pools[1] = [2]string{s1, s2}, p1, p2
		if s1 == s2 {
			t.Fatalf("two NewSchema calls returned %q", s1)
		}
		// Unqualified names resolve to each pool's own schema.
		for i, p := range [2]*pgxpool.Pool{p1, p2} {
			var current string
			if err := p.QueryRow(ctx, "SELECT current_schema()").Scan(&current); err != nil || current != names[i] {
				t.Fatalf("current_schema() = %q, %v; want %q", current, err, names[i])
			}
			if _, err := p.Exec(ctx, "CREATE TABLE items (n int)"); err != nil {
				t.Fatal(err)
			}
			for n := 0; n <= i; n++ {
				if _, err := p.Exec(ctx, "INSERT INTO items VALUES ($1)", n); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, p := range [2]*pgxpool.Pool{p1, p2} {
			var count int
			if err := p.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&count); err != nil || count != i+1 {
				t.Fatalf("schema %s sees %d rows, %v; want %d", names[i], count, err, i+1)
			}
		}
		if !schemaExists(t, s1) || !schemaExists(t, s2) {
			t.Fatal("schemas not visible from a second connection")
		}
	})
	// The subtest's cleanups have run: pools closed, schemas dropped.
	for i, name := range names {
		if name == "" {
			t.Fatal("subtest did not create schemas")
		}
		if schemaExists(t, name) {
			t.Errorf("schema %s survived cleanup", name)
		}
		if err := pools[i].Ping(ctx); err == nil {
			t.Errorf("pool for %s still usable after cleanup", name)
		}
	}
}

func TestNewSchemaNamesDoNotCollide(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]bool{}
	t.Run("group", func(t *testing.T) {
		for range 16 {
			t.Run("schema", func(t *testing.T) {
				t.Parallel()
				name, pool := NewSchema(t)
				if !validIdentifier(name) {
					t.Errorf("schema name %q is not a plain lowercase identifier", name)
				}
				if _, err := pool.Exec(context.Background(), "CREATE TABLE x (id int)"); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[name] {
					t.Errorf("schema name %q handed out twice", name)
				}
				seen[name] = true
			})
		}
	})
	if len(seen) != 16 {
		t.Fatalf("%d distinct schemas, want 16", len(seen))
	}
}

func validIdentifier(s string) bool {
	if s == "" || len(s) > 63 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '_') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func TestNewDatabaseIsolatesAndCleansUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var name string
	var lingering *pgx.Conn
	t.Run("use", func(t *testing.T) {
		url := NewDatabase(t)
		conn, err := pgx.Connect(ctx, url) // left open: the drop must force it out
		if err != nil {
			t.Fatalf("connect %s: %v", url, err)
		}
		lingering = conn
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "t_") || !validIdentifier(name) {
			t.Fatalf("database name %q", name)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE items (n int)"); err != nil {
			t.Fatal(err)
		}
		if other := NewDatabase(t); other == url {
			t.Fatalf("two NewDatabase calls returned %q", url)
		}
	})
	defer lingering.Close(ctx)
	if name == "" {
		t.Fatal("subtest did not create a database")
	}
	if databaseExists(t, name) {
		t.Fatalf("database %s survived cleanup", name)
	}
}

func TestStartClusterCrashRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := StartCluster(t)
	if c == Cluster() {
		t.Fatal("StartCluster returned the shared cluster")
	}
	conn := connect(t, c.URL(""))
	if _, err := conn.Exec(ctx, "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	if err := c.Crash(); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := connect(t, c.URL("")).QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows after crash = %d, %v; want 2", n, err)
	}
}

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable": "postgres://postgres@127.0.0.1:5432/t_1?sslmode=disable",
		"postgresql://u:p@h/db":   "postgresql://u:p@h/t_1",
		"host=h port=5 dbname=db": "host=h port=5 dbname=db dbname=t_1",
	} {
		got, err := withDatabase(in, "t_1")
		if err != nil || got != want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

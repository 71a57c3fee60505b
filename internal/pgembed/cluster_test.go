package pgembed

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestLifecycle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
	}{
		// synchronous_commit=on so that acknowledged commits survive Crash.
		{"fast", Options{Settings: map[string]string{"synchronous_commit": "on"}}},
		{"durable", Options{Durable: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			tc.opts.BaseDir = testBaseDir(t)
			c := startCluster(t, tc.opts)
			url := c.URL("")
			if want := "postgres://postgres@127.0.0.1:"; !strings.HasPrefix(url, want) || !strings.HasSuffix(url, "/postgres?sslmode=disable") {
				t.Fatalf("URL = %q", url)
			}
			if got := queryInt(t, url, "SELECT 1"); got != 1 {
				t.Fatalf("SELECT 1 = %d", got)
			}
			wantFsync := "off"
			if tc.opts.Durable {
				wantFsync = "on"
			}
			conn := connect(t, url)
			var fsync string
			if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil || fsync != wantFsync {
				t.Fatalf("fsync = %q, %v; want %q", fsync, err, wantFsync)
			}
			_ = conn.Close(ctx)
			execSQL(t, url, "CREATE TABLE t (n int); INSERT INTO t VALUES (1)")
			port := c.Port()

			// Stop keeps the data; the server is really down.
			if err := c.Stop(ctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := c.Stop(ctx); err != nil {
				t.Fatalf("second Stop: %v", err)
			}
			shortCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if conn, err := pgx.Connect(shortCtx, url); err == nil {
				_ = conn.Close(ctx)
				t.Fatal("connected to a stopped cluster")
			}
			cancel()
			if err := c.Restart(ctx); err != nil {
				t.Fatalf("Restart after Stop: %v", err)
			}
			if c.Port() != port {
				t.Fatalf("port changed from %d to %d", port, c.Port())
			}
			if got := queryInt(t, url, "SELECT count(*) FROM t"); got != 1 {
				t.Fatalf("rows after Stop/Restart = %d, want 1", got)
			}

			// Crash loses no acknowledged commit; Restart recovers.
			execSQL(t, url, "INSERT INTO t VALUES (2)")
			pid := c.pid()
			if err := c.Crash(); err != nil {
				t.Fatalf("Crash: %v", err)
			}
			if pidAlive(pid) {
				t.Fatalf("postmaster %d still alive after Crash", pid)
			}
			if err := c.Crash(); err == nil {
				t.Fatal("Crash of a stopped cluster succeeded")
			}
			if err := c.Restart(ctx); err != nil {
				t.Fatalf("Restart after Crash: %v", err)
			}
			if got := queryInt(t, url, "SELECT count(*) FROM t"); got != 2 {
				t.Fatalf("rows after Crash/Restart = %d, want 2", got)
			}
			log, err := os.ReadFile(c.LogPath())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(log), "not properly shut down") {
				t.Errorf("server log shows no crash recovery:\n%s", log)
			}

			// Restart of a running cluster stops it first.
			if err := c.Restart(ctx); err != nil {
				t.Fatalf("Restart while running: %v", err)
			}
			if got := queryInt(t, url, "SELECT count(*) FROM t"); got != 2 {
				t.Fatalf("rows after Restart = %d, want 2", got)
			}

			dir := c.rootDir
			pid = c.pid()
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("cluster dir %s still there after Close: %v", dir, err)
			}
			if pidAlive(pid) {
				t.Fatalf("postmaster %d alive after Close", pid)
			}
			if err := c.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if err := c.Restart(ctx); err == nil {
				t.Fatal("Restart after Close succeeded")
			}
		})
	}
}

func TestParallelClusters(t *testing.T) {
	t.Parallel()
	base := testBaseDir(t)
	const n = 3
	clusters := make([]*Cluster, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clusters[i], errs[i] = Start(context.Background(), Options{BaseDir: base})
		}()
	}
	wg.Wait()
	for i := range n {
		if clusters[i] != nil {
			c := clusters[i]
			t.Cleanup(func() {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		}
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Start %d: %v", i, errs[i])
		}
	}
	seen := map[int]bool{}
	for _, c := range clusters {
		if seen[c.Port()] {
			t.Fatalf("port %d used twice", c.Port())
		}
		seen[c.Port()] = true
		conn := connect(t, c.URL(""))
		var dataDir string
		if err := conn.QueryRow(context.Background(), "SHOW data_directory").Scan(&dataDir); err != nil {
			t.Fatal(err)
		}
		if dataDir != c.DataDir() {
			t.Fatalf("port %d serves %s, want %s", c.Port(), dataDir, c.DataDir())
		}
	}
}

func TestExplicitPortAndURL(t *testing.T) {
	t.Parallel()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, Options{BaseDir: testBaseDir(t), Port: port})
	if c.Port() != port {
		t.Fatalf("Port() = %d, want %d", c.Port(), port)
	}
	execSQL(t, c.URL(""), "CREATE DATABASE \"other db\"")
	conn := connect(t, c.URL("other db"))
	var db string
	if err := conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&db); err != nil || db != "other db" {
		t.Fatalf("current_database() = %q, %v", db, err)
	}
	if got := queryInt(t, c.URL(""), "SELECT current_setting('max_connections')::int"); got < 200 {
		t.Fatalf("max_connections = %d, want >= 200", got)
	}
}

func TestStartFailureShowsServerLog(t *testing.T) {
	t.Parallel()
	base := testBaseDir(t)
	_, err := Start(context.Background(), Options{BaseDir: base, Settings: map[string]string{"shared_buffers": "plenty"}})
	if err == nil {
		t.Fatal("Start with an invalid setting succeeded")
	}
	if !strings.Contains(err.Error(), `invalid value for parameter "shared_buffers"`) {
		t.Fatalf("error lacks the server log tail: %v", err)
	}
	entries, rerr := os.ReadDir(base)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if len(entries) != 0 {
		t.Fatalf("failed Start left %d entries in the base dir", len(entries))
	}

	if _, err := Start(context.Background(), Options{BaseDir: base, Settings: map[string]string{"port": "1"}}); err == nil {
		t.Fatal("Start accepted a reserved setting")
	}
}

func TestTakenPortFails(t *testing.T) {
	t.Parallel()
	// Occupy a port with a cluster, then make a second one use the same
	// port: it must fail with the bind error, never mistake the first
	// server for its own.
	first := startCluster(t, Options{BaseDir: testBaseDir(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Start(ctx, Options{BaseDir: testBaseDir(t), Port: first.Port()})
	if err == nil {
		t.Fatal("second cluster started on a taken port")
	}
	if !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("error does not show the bind failure: %v", err)
	}
}

func TestRootNeedsSearchableBaseDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only relevant when running as root")
	}
	t.Parallel()
	_, err := Start(context.Background(), Options{BaseDir: t.TempDir()}) // 0700, root-owned
	if err == nil || !strings.Contains(err.Error(), "not searchable by the postgres user") {
		t.Fatalf("Start under a root-only dir: %v", err)
	}
}

func TestPickedPortTakenIsRetried(t *testing.T) {
	t.Parallel()
	first := startCluster(t, Options{BaseDir: testBaseDir(t)})
	picks := 0
	picker := func() (int, error) {
		picks++
		if picks == 1 {
			return first.Port(), nil // "a parallel process took it"
		}
		return freePort()
	}
	var logs logBuffer
	c, err := start(context.Background(), Options{BaseDir: testBaseDir(t), Logger: newTestLogger(&logs)}, picker)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer c.Close()
	if picks != 2 || c.Port() == first.Port() {
		t.Fatalf("picks = %d, port = %d (taken: %d)", picks, c.Port(), first.Port())
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("no retry logged:\n%s", logs.String())
	}
	if got := queryInt(t, c.URL(""), "SELECT 1"); got != 1 {
		t.Fatalf("SELECT 1 = %d", got)
	}
}

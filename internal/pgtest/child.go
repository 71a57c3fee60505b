package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Child is a copy of the test binary re-executed as a separate process (a
// worker, an executor, a scheduler) for multi-process tests.
type Child struct {
	Name string
	Cmd  *exec.Cmd
	// Done is closed when the process has exited.
	Done chan struct{}
}

// SpawnSelf re-executes the test binary with env (KEY=VALUE pairs, added
// to this process's environment, which carries DATABASE_URL) and no test
// selected: the package's TestMain must recognise an env var of env and
// run the child's work instead of the tests. The child's output goes to a
// file whose tail is logged if the test fails; the child is killed at
// cleanup.
func SpawnSelf(tb testing.TB, name string, env ...string) *Child {
	tb.Helper()
	logFile, err := os.Create(filepath.Join(tb.TempDir(), name+".log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &Child{Name: name, Cmd: cmd, Done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(c.Done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.Done
		if tb.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			if len(b) > 30000 {
				b = b[len(b)-30000:]
			}
			tb.Logf("--- %s log (tail) ---\n%s", name, b)
		}
	})
	return c
}

// ChildMain is the child's side of SpawnSelf, for TestMain to return: it
// runs work with a context that SIGTERM or SIGINT ends (a graceful stop;
// SIGKILL needs no help) and a pool on DATABASE_URL, and returns the exit
// code: 1 after printing work's error, 0 otherwise. The schema is the
// CW_SCHEMA environment variable, by convention.
func ChildMain(work func(ctx context.Context, pool *pgxpool.Pool, schema string) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err == nil {
		err = work(ctx, pool, os.Getenv("CW_SCHEMA"))
		pool.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

package pgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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

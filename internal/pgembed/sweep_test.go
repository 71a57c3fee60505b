package pgembed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "PGEMBED_TEST_HELPER_BASEDIR"

// TestHelperProcess is not a real test: the orphan tests run the test binary
// again with helperEnv set, and this starts a cluster, reports it and
// blocks until it is killed.
func TestHelperProcess(t *testing.T) {
	base := os.Getenv(helperEnv)
	if base == "" {
		t.Skip("helper process for TestOrphanedServerDiesAndIsSwept")
	}
	c, err := Start(context.Background(), Options{BaseDir: base})
	if err != nil {
		fmt.Printf("ERROR %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("READY %d %s\n", c.pid(), c.rootDir)
	time.Sleep(time.Hour)
}

// startOrphaningHelper runs a helper process that starts a cluster, then
// SIGKILLs the helper, as a `go test -timeout` panic or an OOM kill would.
func startOrphaningHelper(t *testing.T, base string) (postmasterPID int, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+base)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "READY "); ok {
			pidStr, d, _ := strings.Cut(rest, " ")
			postmasterPID, _ = strconv.Atoi(pidStr)
			dir = d
			break
		}
		if strings.HasPrefix(line, "ERROR ") {
			t.Fatalf("helper: %s", line)
		}
	}
	if postmasterPID == 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper did not report a cluster: %v", sc.Err())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return postmasterPID, dir
}

func TestOrphanedServerDiesAndIsSwept(t *testing.T) {
	t.Parallel()
	base := testBaseDir(t)
	pid, dir := startOrphaningHelper(t, base)

	if runtime.GOOS == "linux" {
		// Pdeathsig: the kernel kills the postmaster with its parent.
		if alive := waitGone([]int{pid}, 10*time.Second); len(alive) > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d survived the death of its parent", pid)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("stale dir should still exist before the sweep: %v", err)
	}
	// The next Start in the same base dir removes the stale directory.
	c := startCluster(t, Options{BaseDir: base})
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale dir %s not swept: %v", dir, err)
	}
	if _, err := os.Stat(c.rootDir); err != nil {
		t.Fatalf("sweep removed the live cluster: %v", err)
	}
}

func TestSweepKillsRunningStalePostmaster(t *testing.T) {
	t.Parallel()
	base := testBaseDir(t)
	c := startCluster(t, Options{BaseDir: base})
	pid := c.pid()

	// Pretend the cluster belongs to a process that died without Pdeathsig
	// taking the server down (e.g. on a non-Linux system).
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.ProcessState.Pid()
	if err := os.WriteFile(filepath.Join(c.rootDir, ownerFile), fmt.Appendf(nil, "pid=%d\nstart=1\n", deadPID), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	sweep(base, newTestLogger(&logs))
	if pidAlive(pid) {
		t.Fatalf("sweep left postmaster %d running", pid)
	}
	if _, err := os.Stat(c.rootDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sweep left %s: %v", c.rootDir, err)
	}
	if !strings.Contains(logs.String(), "killed stale postmaster") {
		t.Errorf("sweep log:\n%s", logs.String())
	}
}

func TestSweepKeepsLiveAndForeignDirs(t *testing.T) {
	t.Parallel()
	base := testBaseDir(t)
	mk := func(name string) string {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	live := mk(dirPrefix + "live")
	if err := writeOwner(live); err != nil {
		t.Fatal(err)
	}
	reused := mk(dirPrefix + "reused") // our PID, but another incarnation
	if err := os.WriteFile(filepath.Join(reused, ownerFile), fmt.Appendf(nil, "pid=%d\nstart=1\n", os.Getpid()), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := mk(dirPrefix + "fresh") // no owner file yet: being created
	template := mk(dirPrefix + "template-15-0")
	other := mk("something-else")
	old := mk(dirPrefix + "old") // no owner file and old: creator died
	past := time.Now().Add(-2 * orphanAge)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}

	var logs logBuffer
	sweep(base, newTestLogger(&logs))
	for _, dir := range []string{live, fresh, template, other} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("sweep removed %s: %v", dir, err)
		}
	}
	for _, dir := range []string{old} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("sweep kept %s: %v", dir, err)
		}
	}
	_, err := os.Stat(reused)
	if runtime.GOOS == "linux" && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sweep kept %s despite the start-time mismatch: %v", reused, err)
	}
}

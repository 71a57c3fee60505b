package pgembed

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func segmentListed(t *testing.T, key, id string) bool {
	t.Helper()
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == key && fields[1] == id {
			return true
		}
	}
	return false
}

func TestCloseAfterCrashLeavesNoSharedMemory(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Options{BaseDir: testBaseDir(t)})
	key, id, ok := postmasterShmem(c.DataDir())
	if !ok {
		t.Fatal("no shared memory key in postmaster.pid")
	}
	if err := c.Crash(); err != nil {
		t.Fatal(err)
	}
	if !segmentListed(t, key, id) {
		t.Fatalf("segment %s/%s gone right after Crash; the test proves nothing", key, id)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if segmentListed(t, key, id) {
		t.Fatalf("segment %s/%s leaked by Close after Crash", key, id)
	}
}

func TestSweepRemovesSharedMemoryOfStaleCluster(t *testing.T) {
	t.Parallel()
	base := testBaseDir(t)
	c := startCluster(t, Options{BaseDir: base})
	key, id, ok := postmasterShmem(c.DataDir())
	if !ok {
		t.Fatal("no shared memory key in postmaster.pid")
	}
	if err := os.WriteFile(filepath.Join(c.rootDir, ownerFile), fmt.Appendf(nil, "pid=%d\nstart=1\n", os.Getpid()), 0o644); err != nil {
		t.Fatal(err) // our PID with a wrong start time: a dead owner
	}
	var logs logBuffer
	sweep(base, newTestLogger(&logs))
	if segmentListed(t, key, id) {
		t.Fatalf("segment %s/%s leaked by the sweep:\n%s", key, id, logs.String())
	}
}

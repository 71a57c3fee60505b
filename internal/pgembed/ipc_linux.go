package pgembed

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// cleanupIPC removes the System V shared memory segment (a small interlock
// segment; the main shared memory is anonymous) that a SIGKILLed postmaster
// leaves behind. A restart on the same data directory would reuse it, but
// once the directory is deleted nothing would, and leaked segments count
// against kernel.shmmni. It only acts when postmaster.pid is still there
// (a clean shutdown removes both) and the segment with the recorded key and
// id has no attached processes. Best effort: failures are logged.
func cleanupIPC(dataDir string, log *slog.Logger) {
	key, id, ok := postmasterShmem(dataDir)
	if !ok || !unattachedSegment(key, id) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ipcrm", "-m", id).CombinedOutput(); err != nil {
		log.Debug("pgembed: remove leftover shared memory segment", "shmid", id, "err", err, "output", strings.TrimSpace(string(out)))
		return
	}
	log.Debug("pgembed: removed leftover shared memory segment", "shmid", id)
}

// postmasterShmem reads the shared memory key and id from line 7 of
// postmaster.pid.
func postmasterShmem(dataDir string) (key, id string, ok bool) {
	f, err := os.Open(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if line == 7 {
			fields := strings.Fields(sc.Text())
			if len(fields) != 2 {
				return "", "", false
			}
			return fields[0], fields[1], true
		}
	}
	return "", "", false
}

// unattachedSegment reports whether /proc/sysvipc/shm lists a segment with
// this key and id and no attached processes.
func unattachedSegment(key, id string) bool {
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text()) // key shmid perms size cpid lpid nattch ...
		if len(fields) >= 7 && fields[0] == key && fields[1] == id {
			return fields[6] == "0"
		}
	}
	return false
}

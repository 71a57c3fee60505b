package pgembed

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// dirPrefix names every directory pgembed creates in a base dir.
	dirPrefix = "causeway-pgembed-"
	// ownerFile records which process owns a cluster directory.
	ownerFile = "owner"
	// orphanAge is how old a cluster directory without an owner file (its
	// creator died between mkdir and writing it) must be before a sweep
	// removes it.
	orphanAge = 10 * time.Minute
)

// writeOwner records this process (PID and start time, to detect PID reuse)
// as the owner of the cluster directory dir.
func writeOwner(dir string) error {
	pid := os.Getpid()
	start, err := processStartTime(pid)
	if err != nil {
		start = ""
	}
	content := fmt.Sprintf("pid=%d\nstart=%s\n", pid, start)
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(content), 0o644); err != nil {
		return fmt.Errorf("pgembed: write owner file: %w", err)
	}
	return nil
}

func readOwner(dir string) (pid int, start string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return 0, "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "pid":
			pid, err = strconv.Atoi(v)
			if err != nil {
				return 0, "", fmt.Errorf("pgembed: bad owner file in %s: %w", dir, err)
			}
		case "start":
			start = v
		}
	}
	if pid <= 0 {
		return 0, "", fmt.Errorf("pgembed: owner file in %s has no pid", dir)
	}
	return pid, start, nil
}

// ownerAlive reports whether the recorded owner still runs: the PID exists
// and, where start times are available, is the same incarnation.
func ownerAlive(pid int, start string) bool {
	if !pidAlive(pid) {
		return false
	}
	if start == "" {
		return true
	}
	cur, err := processStartTime(pid)
	return err != nil || cur == start
}

// sweep removes cluster directories in baseDir left behind by processes that
// died without calling Close (SIGKILL, `go test -timeout` panic): for each
// one whose owner is dead it kills the postmaster if that still runs
// (Pdeathsig normally got it already), then removes the directory. Errors
// are logged, not returned: a failed sweep must not fail a Start.
func sweep(baseDir string, log *slog.Logger) {
	entries, err := os.ReadDir(baseDir)
	if err != nil {
		log.Debug("pgembed: sweep: read base dir", "dir", baseDir, "err", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, dirPrefix) || strings.HasPrefix(name, dirPrefix+"template-") {
			continue
		}
		dir := filepath.Join(baseDir, name)
		pid, start, err := readOwner(dir)
		switch {
		case err == nil && ownerAlive(pid, start):
			continue
		case errors.Is(err, fs.ErrNotExist):
			info, ierr := e.Info()
			if ierr != nil || time.Since(info.ModTime()) < orphanAge {
				continue // probably being created right now
			}
		case err != nil:
			log.Debug("pgembed: sweep: unreadable owner file", "dir", dir, "err", err)
			continue
		}
		reapDir(dir, log)
	}
}

// reapDir kills the postmaster recorded in dir's data directory, if it still
// runs, and removes dir.
func reapDir(dir string, log *slog.Logger) {
	if pid, ok := postmasterPID(filepath.Join(dir, "data")); ok && pidAlive(pid) && isPostgresProcess(pid) {
		kids := childPIDs(pid)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			log.Warn("pgembed: sweep: kill stale postmaster", "pid", pid, "dir", dir, "err", err)
		} else {
			log.Info("pgembed: sweep: killed stale postmaster", "pid", pid, "dir", dir)
		}
		waitGone([]int{pid}, 5*time.Second)
		reapChildren(kids)
	}
	cleanupIPC(filepath.Join(dir, "data"), log)
	if err := os.RemoveAll(dir); err != nil {
		log.Warn("pgembed: sweep: remove stale cluster dir", "dir", dir, "err", err)
		return
	}
	log.Info("pgembed: sweep: removed stale cluster dir", "dir", dir)
}

// postmasterPID reads the PID from a data directory's postmaster.pid.
func postmasterPID(dataDir string) (int, bool) {
	f, err := os.Open(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
	return pid, err == nil && pid > 0
}

package pgembed

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// setParentDeathSignal makes the kernel SIGKILL the child when the thread
// that forked it exits; see process for why that thread is kept alive.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}

// procStat returns the fields of /proc/PID/stat after the command name, so
// index 0 is the state (field 3 in proc(5)), 1 the parent PID, 19 the start
// time.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("pgembed: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("pgembed: short /proc/%d/stat", pid)
	}
	return f, nil
}

// processStartTime returns an opaque token identifying this incarnation of
// pid (its start time in clock ticks since boot), to detect PID reuse.
func processStartTime(pid int) (string, error) {
	f, err := procStat(pid)
	if err != nil {
		return "", err
	}
	return f[19], nil
}

func isZombie(pid int) bool {
	f, err := procStat(pid)
	if err != nil {
		return false
	}
	return f[0] == "Z" || f[0] == "X"
}

// childPIDs lists the direct children of pid.
func childPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := strconv.Itoa(pid)
	var kids []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := procStat(n); err == nil && f[1] == want {
			kids = append(kids, n)
		}
	}
	return kids
}

// isPostgresProcess guards against PID reuse before killing a stale
// postmaster found through a postmaster.pid file.
func isPostgresProcess(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return false
	}
	comm := strings.TrimSpace(string(b))
	return comm == "postgres" || comm == "postmaster"
}

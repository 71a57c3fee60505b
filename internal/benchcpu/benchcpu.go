// Package benchcpu is the benchmarks' CPU accounting (runner bench and the
// bench/peers module share it), Linux only (elsewhere every figure is zero). On a small
// machine shared by the benchmark process, PostgreSQL and whatever else
// runs, throughput alone is noisy; CPU time per event is a steadier measure
// of cost, and the CPU used by other processes during a repetition tells
// whether it was disturbed.
package benchcpu

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClockTick is USER_HZ, the unit of /proc CPU times (100 on every Linux
// architecture Go supports).
const ClockTick = 10 * time.Millisecond

// Sample is a snapshot of cumulative CPU times.
type Sample struct {
	Machine time.Duration // busy time of all CPUs (/proc/stat)
	Self    time.Duration // this process (getrusage)
	Server  time.Duration // the PostgreSQL server's processes, when known
}

// Sub is the CPU time between b and a.
func (a Sample) Sub(b Sample) Sample {
	return Sample{Machine: a.Machine - b.Machine, Self: a.Self - b.Self, Server: a.Server - b.Server}
}

// Other is the CPU time used by everything but this process and the server.
func (a Sample) Other() time.Duration { return max(a.Machine-a.Self-a.Server, 0) }

// Take samples the CPU times; postmaster is the server's PID or 0.
func Take(postmaster int) Sample {
	var s Sample
	s.Machine = MachineBusy()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.Self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if postmaster > 0 {
		s.Server = TreeCPU(postmaster)
	}
	return s
}

// MachineBusy is the non-idle time of all CPUs since boot.
func MachineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, x := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		v, _ := strconv.ParseInt(x, 10, 64)
		busy += v
	}
	return time.Duration(busy) * ClockTick
}

// ProcStat returns the fields of /proc/<pid>/stat after the command name.
func ProcStat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// TreeCPU is the CPU time of pid, of its exited children (cutime, cstime)
// and of its live children: for a postmaster, every server process.
func TreeCPU(pid int) time.Duration {
	var ticks int64
	add := func(f []string, withChildren bool) {
		// Fields after the name: state=0 ppid=1 … utime=11 stime=12 cutime=13 cstime=14.
		if len(f) < 15 {
			return
		}
		last := 12
		if withChildren {
			last = 14
		}
		for i := 11; i <= last; i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += v
		}
	}
	add(ProcStat(pid), true)
	ents, _ := os.ReadDir("/proc")
	want := strconv.Itoa(pid)
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := ProcStat(child); len(f) > 1 && f[1] == want {
			add(f, false)
		}
	}
	return time.Duration(ticks) * ClockTick
}

// FindPostmaster returns the PID of the server behind a connection's backend
// PID when the server runs on this machine and is visible in /proc (0
// otherwise).
func FindPostmaster(backend int) int {
	f := ProcStat(backend)
	if len(f) < 2 {
		return 0
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(ppid) + "/exe")
	if err != nil || !strings.HasPrefix(filepath.Base(exe), "postgres") {
		return 0
	}
	return ppid
}

// WaitQuiet waits, up to limit, until processes other than this one and the
// server use less than 10% of one CPU over a 300 ms window, and returns how
// long it waited. Between repetitions this process and its server are
// nearly idle, so what it waits for is someone else's work.
func WaitQuiet(ctx context.Context, postmaster int, limit time.Duration) time.Duration {
	if limit <= 0 || MachineBusy() == 0 {
		return 0
	}
	const window = 300 * time.Millisecond
	begin := time.Now()
	for {
		a := Take(postmaster)
		select {
		case <-ctx.Done():
			return time.Since(begin)
		case <-time.After(window):
		}
		d := Take(postmaster).Sub(a)
		if d.Other() < window/10 || time.Since(begin) >= limit {
			return time.Since(begin)
		}
	}
}

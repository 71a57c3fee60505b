package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// What the harness last asked of a consumer process.
const (
	procRunning = iota
	procKilled
	procLeaving
)

// proc is one consumer process.
type proc struct {
	member  string
	cmd     *exec.Cmd
	stdin   io.Closer // closing it makes the child exit (it watches for EOF)
	logPath string
	done    chan struct{}
	ready   chan struct{} // closed once it handles SIGTERM, or has exited
	exitErr error
	state   int // guarded by fleet.mu
}

// fleet starts, kills and stops consumer processes.
type fleet struct {
	exe    string
	base   childConfig
	logDir string
	tl     *timeline
	viol   *violations

	mu      sync.Mutex
	next    int
	procs   []*proc
	started int
	wg      sync.WaitGroup
}

// leaveTimeout bounds a graceful stop: the worker's and the saga executor's
// shutdown timeouts (10 s each, concurrently) and some slack.
const leaveTimeout = 30 * time.Second

// start launches a consumer process (a join).
func (f *fleet) start() (*proc, error) {
	f.mu.Lock()
	f.next++
	member := fmt.Sprintf("c%02d", f.next)
	f.mu.Unlock()
	cfg := f.base
	cfg.Member = member
	cfg.ReadyFD = 3 // the first of ExtraFiles
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(f.logDir, member+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The test flags keep a test binary that forgot MaybeRunChild from
	// running its own tests recursively.
	cmd := exec.Command(f.exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{readyW}
	err = cmd.Start()
	readyW.Close() // the child has its own copy
	if err != nil {
		readyR.Close()
		logFile.Close()
		return nil, fmt.Errorf("start consumer %s: %w", f.exe, err)
	}
	p := &proc{member: member, cmd: cmd, stdin: stdin, logPath: logPath, done: make(chan struct{}), ready: make(chan struct{})}
	go func() {
		// One byte when the child handles SIGTERM; EOF if it exits first.
		_, _ = readyR.Read(make([]byte, 1))
		readyR.Close()
		close(p.ready)
	}()
	f.mu.Lock()
	f.procs = append(f.procs, p)
	f.started++
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		p.exitErr = cmd.Wait()
		logFile.Close()
		f.mu.Lock()
		state := p.state
		f.mu.Unlock()
		if state == procRunning {
			f.tl.add(eventDied, member)
			f.viol.add("consumer-died", "%s exited on its own (%v); log tail: %s", member, p.exitErr, logTail(logPath, 600))
		}
		close(p.done)
	}()
	return p, nil
}

// running returns the consumers neither killed nor leaving nor exited.
func (f *fleet) running() []*proc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*proc
	for _, p := range f.procs {
		select {
		case <-p.done:
			continue
		default:
		}
		if p.state == procRunning {
			out = append(out, p)
		}
	}
	return out
}

// kill SIGKILLs p and waits for it to be gone.
func (f *fleet) kill(p *proc) {
	f.mu.Lock()
	p.state = procKilled
	f.mu.Unlock()
	f.tl.add(FaultKill, p.member)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// leave SIGTERMs p: it must hand its partitions over and exit cleanly
// within leaveTimeout. It does not wait; the violations are recorded when
// the process ends.
func (f *fleet) leave(p *proc, kind string) {
	f.mu.Lock()
	p.state = procLeaving
	f.mu.Unlock()
	f.tl.add(kind, p.member)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		// A process still starting would die of SIGTERM's default action:
		// ask only once it can stop gracefully (as a supervisor's stop
		// after a readiness check would).
		<-p.ready
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(leaveTimeout)
		defer t.Stop()
		select {
		case <-p.done:
			if p.exitErr != nil {
				f.viol.add("graceful-stop-failed", "%s exited with %v after SIGTERM; log tail: %s", p.member, p.exitErr, logTail(p.logPath, 600))
			}
		case <-t.C:
			f.viol.add("graceful-stop-timeout", "%s still running %v after SIGTERM; killed", p.member, leaveTimeout)
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}()
}

// stopAll stops every consumer gracefully and waits for all of them.
func (f *fleet) stopAll() {
	for _, p := range f.running() {
		f.leave(p, eventStopped)
	}
	f.wait()
}

// wait waits until every process has ended and been accounted for.
func (f *fleet) wait() { f.wg.Wait() }

// killAll is the clean-up of last resort: nothing may outlive the run.
func (f *fleet) killAll() {
	f.mu.Lock()
	procs := slices.Clone(f.procs)
	for _, p := range procs {
		if p.state == procRunning {
			p.state = procKilled
		}
	}
	f.mu.Unlock()
	for _, p := range procs {
		_ = p.stdin.Close()
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	f.wg.Wait()
}

// ensure starts consumers until at least n run.
func (f *fleet) ensure(ctx context.Context, n int) error {
	for len(f.running()) < n && ctx.Err() == nil {
		if _, err := f.start(); err != nil {
			return err
		}
	}
	return nil
}

// logTail returns the last n bytes of a file, on one line.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

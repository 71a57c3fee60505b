package pgembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// process is a child process (initdb or the postmaster) whose lifetime is
// tied to this one.
//
// Why a dedicated goroutine: on Linux the child gets
// SysProcAttr.Pdeathsig = SIGKILL, so the kernel kills it when its parent
// dies — even when this process is SIGKILLed or a `go test -timeout` panic
// exits it, where no deferred clean-up runs. But the kernel's notion of
// "parent" is the OS *thread* that forked the child, not the process: with
// Go's M:N scheduling a goroutine may fork from a thread that the runtime
// later retires, which would SIGKILL a perfectly healthy postmaster. So
// startProcess forks from a goroutine that calls runtime.LockOSThread and
// then stays blocked in cmd.Wait on that same thread for the whole life of
// the child. It never unlocks: when the goroutine returns (after the child
// has been reaped) the runtime simply discards the thread.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the child has exited and been reaped
	err  error         // cmd.Wait's result; read only after done is closed
}

// startProcess starts cmd as described on process. The caller must not call
// cmd.Wait itself.
func startProcess(cmd *exec.Cmd) (*process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	setParentDeathSignal(cmd.SysProcAttr)
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // deliberately never unlocked, see process
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.done)
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("pgembed: start %s: %w", cmd.Path, err)
	}
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the child has exited (without blocking).
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig unless the child already exited.
func (p *process) signal(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) && !p.exited() {
		return fmt.Errorf("pgembed: signal %v to pid %d: %w", sig, p.pid(), err)
	}
	return nil
}

// wait blocks until the child exited or ctx is done and returns the exit
// error (nil for a clean exit).
func (p *process) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("pgembed: waiting for pid %d: %w", p.pid(), ctx.Err())
	}
}

// kill SIGKILLs the child and waits until it has been reaped.
func (p *process) kill() error {
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// stopWith sends sig and waits up to grace for the child to exit; if it does
// not, it is SIGKILLed. It returns an error only when the grace period ran
// out or signalling failed.
func (p *process) stopWith(ctx context.Context, sig syscall.Signal, grace time.Duration) error {
	if err := p.signal(sig); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	if err := p.kill(); err != nil {
		return err
	}
	return fmt.Errorf("pgembed: pid %d did not exit after %v, killed it: %w", p.pid(), sig, ctx.Err())
}

// pidAlive reports whether pid names a live (non-zombie) process. EPERM means
// it exists but belongs to another user.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !isZombie(pid)
}

// waitGone polls until none of pids is alive or timeout passes, and reports
// the ones still alive.
func waitGone(pids []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		var alive []int
		for _, pid := range pids {
			if pidAlive(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		pids = alive
		time.Sleep(10 * time.Millisecond)
	}
}

// reapChildren waits for the children of a postmaster that was SIGKILLed to
// notice its death and exit (they hold the shared memory segment, so a new
// postmaster on the same data dir refuses to start until they are gone),
// SIGKILLing stragglers after a grace period.
func reapChildren(pids []int) {
	alive := waitGone(pids, 5*time.Second)
	for _, pid := range alive {
		_ = syscall.Kill(pid, syscall.SIGKILL) // best effort; it may have just exited
	}
	waitGone(alive, 5*time.Second)
}

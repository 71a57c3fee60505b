package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// errStoppedEarly is the failure of a component that returned, without an
// error, while it was meant to run on.
var errStoppedEarly = errors.New("stopped unexpectedly")

// supervisor runs a process's components (worker, saga executor,
// scheduler, HTTP server, telemetry) as one unit: they share a context,
// the first component to fail cancels it so every other one stops too, and
// wait returns that first failure. A process that has lost a part of
// itself (its API, its scheduler) must not carry on as if whole, and an
// operator must not have to kill it.
type supervisor struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	logger *slog.Logger
	wg     sync.WaitGroup

	mu    sync.Mutex
	first error // the first failure; nil while all run or after a requested stop
}

func newSupervisor(parent context.Context, logger *slog.Logger) *supervisor {
	ctx, cancel := context.WithCancelCause(parent)
	return &supervisor{ctx: ctx, cancel: cancel, logger: logger}
}

// start runs fn in its own goroutine until the shared context ends. fn
// must return soon after its context ends; what it returns then is
// logged, not reported: the stop was asked for, by the parent or by
// another component's failure.
func (s *supervisor) start(name string, fn func(ctx context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := fn(s.ctx)
		if s.ctx.Err() != nil {
			if err != nil && !errors.Is(err, context.Canceled) {
				s.logger.Warn("causeway: component stopped with an error", "component", name, "err", err)
			}
			return
		}
		if err == nil {
			err = errStoppedEarly
		}
		s.fail(fmt.Errorf("%s: %w", name, err))
	}()
}

// fail records err as the process's failure, when it is the first, and
// stops every component.
func (s *supervisor) fail(err error) {
	s.mu.Lock()
	if s.first == nil {
		s.first = err
		s.logger.Error("causeway: a component failed; stopping the others", "err", err)
	}
	s.mu.Unlock()
	s.cancel(err)
}

// wait waits for every component to return and reports the first failure
// (nil when they stopped because the parent context ended).
func (s *supervisor) wait() error {
	s.wg.Wait()
	s.cancel(nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first
}

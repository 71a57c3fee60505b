package schedule

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/causewayhq/causeway/internal/pgtext"
)

type runKey struct{}

// runInfo travels in a job's context.
type runInfo struct {
	scheduledAt time.Time
	mu          sync.Mutex
	result      string
}

// ScheduledAt returns the scheduled time the running job fulfils (not the
// time it actually started), and false outside a scheduled run. Use it as
// an idempotency key for the run.
func ScheduledAt(ctx context.Context) (time.Time, bool) {
	ri, ok := ctx.Value(runKey{}).(*runInfo)
	if !ok {
		return time.Time{}, false
	}
	return ri.scheduledAt, true
}

// SetResult records a one-line summary of the running job's outcome (for
// example how many rows it deleted) in its durable state. Outside a
// scheduled run it does nothing.
func SetResult(ctx context.Context, result string) {
	if ri, ok := ctx.Value(runKey{}).(*runInfo); ok {
		ri.mu.Lock()
		ri.result = result
		ri.mu.Unlock()
	}
}

// maxErrorText bounds the error text kept in the state row.
const maxErrorText = 4096

// panicError is a run that panicked.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// call runs fn, turning a panic into a *panicError.
func call(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	return fn(ctx)
}

// execute runs one claimed occurrence of j and records its outcome. The
// outcome is written even when ctx has ended (shutdown, lost leadership):
// the write names the claimed time, so it cannot touch a newer claim.
func (s *Scheduler) execute(ctx context.Context, j *job, due time.Time) {
	ri := &runInfo{scheduledAt: due}
	logger := s.cfg.Logger.With("job", j.name, "scheduled_at", due)
	logger.Debug("schedule: run")
	start := time.Now()
	err := call(context.WithValue(ctx, runKey{}, ri), j.run)
	took := time.Since(start)

	var pe *panicError
	panicked := errors.As(err, &pe)
	status, errText := StatusOK, ""
	switch {
	case err == nil:
	case ctx.Err() != nil && !panicked:
		// Stopped by shutdown or loss of leadership, not a failure of its own.
		status, errText = StatusCancelled, err.Error()
	default:
		status, errText = StatusFailed, err.Error()
	}
	ri.mu.Lock()
	result := ri.result
	ri.mu.Unlock()
	switch {
	case panicked:
		errText += "\n" + string(pe.stack)
		logger.Error("schedule: job panicked", "err", err, "took", took, "stack", string(pe.stack))
	case status == StatusFailed:
		logger.Error("schedule: job failed", "err", err, "took", took)
	case status == StatusCancelled:
		logger.Info("schedule: job cancelled", "took", took)
	default:
		logger.Debug("schedule: job done", "took", took, "result", result)
	}

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.store.finish(wctx, j.name, due, status, storable(errText), storable(result), took); err != nil {
		logger.Error("schedule: record outcome", "err", err)
	}
}

// storable makes a job's error or result text fit its state row: text
// PostgreSQL refuses (NUL, invalid UTF-8) would leave the run unrecorded.
func storable(s string) string {
	return pgtext.Truncate(pgtext.Sanitize(s), maxErrorText)
}

package saga

import (
	"time"

	"github.com/causewayhq/causeway/worker"
)

// result is what one attempt of the current step came to.
type result struct {
	ok        bool
	timedOut  bool // a wait step's deadline passed
	permanent bool
	err       string
	state     []byte // new state when ok
}

// advance is the saga state machine: given an instance, its steps and the
// result of an attempt of its current step, the instance as it must be
// recorded and the history entry. It is pure, so the Garcia-Molina & Salem
// properties are tested on it directly as well as end to end.
func advance(inst Instance, steps []stepInfo, r result, now time.Time) (Instance, HistoryEntry) {
	next := inst
	next.UpdatedAt = now
	next.LeaseOwner, next.LeaseExpiresAt = "", time.Time{}
	cur := steps[inst.Step]
	h := HistoryEntry{Step: cur.name, Attempt: inst.Attempts + 1, At: now}

	switch inst.Status {
	case StatusRunning, StatusWaiting:
		h.Phase = PhaseAction
		if cur.wait != "" {
			h.Phase = PhaseWait
		}
		switch {
		case r.ok:
			h.Outcome = OutcomeCompleted
			if cur.wait != "" {
				h.Outcome = OutcomeReceived
			}
			next.State = r.state
			next.LastError = ""
			next.enterStep(steps, inst.Step+1, now)
		case r.timedOut:
			h.Outcome, h.Error = OutcomeTimedOut, r.err
			next.LastError = r.err
			next.startCompensating(steps, inst.Step-1, now)
		default:
			h.Outcome, h.Error = OutcomeFailed, r.err
			next.LastError = r.err
			if wait, ok := retryAfter(cur.retry, inst.Attempts+1, r.permanent); ok {
				next.Attempts++
				next.NextAttemptAt = now.Add(wait)
			} else {
				next.startCompensating(steps, inst.Step-1, now)
			}
		}
	case StatusCompensating:
		h.Phase = PhaseCompensation
		if r.ok {
			h.Outcome = OutcomeCompleted
			next.State = r.state
			next.LastError = ""
			next.startCompensating(steps, inst.Step-1, now)
			break
		}
		h.Outcome, h.Error = OutcomeFailed, r.err
		next.LastError = r.err
		if wait, ok := retryAfter(cur.compRetry, inst.Attempts+1, r.permanent); ok {
			next.Attempts++
			next.NextAttemptAt = now.Add(wait)
		} else {
			// Out of retries: an operator has to look at it.
			next.Status = StatusFailed
			next.Attempts++
			next.NextAttemptAt = time.Time{}
		}
	}
	return next, h
}

// enterStep moves to step i (forward): completed past the last step,
// waiting at a wait step, running otherwise.
func (inst *Instance) enterStep(steps []stepInfo, i int, now time.Time) {
	inst.Step, inst.Attempts, inst.WaitDeadline, inst.WaitEvent = i, 0, time.Time{}, ""
	switch {
	case i >= len(steps):
		inst.Step = len(steps) - 1
		inst.Status, inst.NextAttemptAt = StatusCompleted, time.Time{}
	case steps[i].wait != "":
		inst.Status, inst.WaitEvent = StatusWaiting, steps[i].wait
		inst.WaitDeadline = now.Add(steps[i].timeout)
		// Parked until the deadline: the store's Record makes it due at
		// once if its event is already filed (no claim just to look), and
		// a filing wakes it.
		inst.NextAttemptAt = inst.WaitDeadline
	default:
		inst.Status = StatusRunning
		// An instance already due stays due since when it was: its row's
		// indexed columns do not change from step to step, so PostgreSQL
		// can update it in place (HOT; the table leaves room for that).
		if inst.NextAttemptAt.IsZero() || inst.NextAttemptAt.After(now) {
			inst.NextAttemptAt = now
		}
	}
}

// startCompensating moves to the compensation of the completed step i or
// the nearest one before it that has a compensation; compensated when none
// is left. Only steps before the failing one are ever compensated.
func (inst *Instance) startCompensating(steps []stepInfo, i int, now time.Time) {
	for i >= 0 && !steps[i].hasCompensation {
		i--
	}
	inst.Attempts, inst.WaitDeadline, inst.WaitEvent = 0, time.Time{}, ""
	if i < 0 {
		inst.Status, inst.NextAttemptAt = StatusCompensated, time.Time{}
		inst.Step = max(inst.Step, 0)
		return
	}
	inst.Step, inst.Status, inst.NextAttemptAt = i, StatusCompensating, now
}

// retryAfter returns the wait before another attempt after `failed`
// failures, or false when the policy is exhausted (or the error permanent).
func retryAfter(p worker.RetryPolicy, failed int, permanent bool) (time.Duration, bool) {
	if permanent {
		return 0, false
	}
	b := p.Backoff()
	var wait time.Duration
	for i := 0; i < failed; i++ {
		var stop bool
		if wait, stop = b.Next(); stop {
			return 0, false
		}
	}
	return wait, true
}

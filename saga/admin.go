package saga

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/causewayhq/causeway/worker"
)

// Admin is the operators' API: list and inspect instances, and act on
// failed ones.
type Admin struct {
	Store Store
	// Sagas are the definitions (needed to cancel a running instance).
	Sagas []Saga
	// Clock is the executor's (default worker.SystemClock).
	Clock worker.Clock
}

// Details is an instance with its history.
type Details struct {
	Instance
	History []HistoryEntry
}

// List lists instances.
func (a Admin) List(ctx context.Context, q Query) ([]Instance, error) { return a.Store.List(ctx, q) }

// Get returns an instance and its history.
func (a Admin) Get(ctx context.Context, id uuid.UUID) (Details, error) {
	inst, err := a.Store.Get(ctx, id)
	if err != nil {
		return Details{}, err
	}
	h, err := a.Store.History(ctx, id)
	return Details{Instance: inst, History: h}, err
}

// Retry runs the current step again now: a failed compensation (with fresh
// attempts), or a step waiting for its next attempt.
func (a Admin) Retry(ctx context.Context, id uuid.UUID) (Instance, error) {
	return a.act(ctx, id, "retry", func(inst Instance, _ []stepInfo, now time.Time) (Instance, error) {
		switch inst.Status {
		case StatusFailed:
			inst.Status, inst.Attempts = StatusCompensating, 0
		case StatusRunning, StatusCompensating:
		default:
			return inst, fmt.Errorf("%w: retry a %s saga", ErrInvalidState, inst.Status)
		}
		inst.NextAttemptAt = now
		return inst, nil
	})
}

// Resume continues compensating a failed saga past the compensation that
// failed, for when an operator has undone that step by hand.
func (a Admin) Resume(ctx context.Context, id uuid.UUID) (Instance, error) {
	return a.act(ctx, id, "resume", func(inst Instance, steps []stepInfo, now time.Time) (Instance, error) {
		if inst.Status != StatusFailed {
			return inst, fmt.Errorf("%w: resume a %s saga", ErrInvalidState, inst.Status)
		}
		inst.startCompensating(steps, inst.Step-1, now)
		return inst, nil
	})
}

// Cancel stops a saga: a running or waiting one compensates its completed
// steps; a failed one is given up as cancelled.
func (a Admin) Cancel(ctx context.Context, id uuid.UUID) (Instance, error) {
	return a.act(ctx, id, "cancel", func(inst Instance, steps []stepInfo, now time.Time) (Instance, error) {
		switch inst.Status {
		case StatusRunning, StatusWaiting:
			inst.startCompensating(steps, inst.Step-1, now)
		case StatusFailed:
			inst.Status, inst.NextAttemptAt = StatusCancelled, time.Time{}
		default:
			return inst, fmt.Errorf("%w: cancel a %s saga", ErrInvalidState, inst.Status)
		}
		return inst, nil
	})
}

func (a Admin) act(ctx context.Context, id uuid.UUID, what string, change func(Instance, []stepInfo, time.Time) (Instance, error)) (Instance, error) {
	inst, err := a.Store.Get(ctx, id)
	if err != nil {
		return Instance{}, err
	}
	clock := a.Clock
	if clock == nil {
		clock = worker.SystemClock
	}
	now := clock.Now()
	if inst.LeaseOwner != "" && inst.LeaseExpiresAt.After(now) {
		return Instance{}, fmt.Errorf("%w: saga %s is running a step now; try again", ErrInvalidState, id)
	}
	var steps []stepInfo
	for _, d := range a.Sagas {
		if d.Name() == inst.Type {
			steps = d.steps_()
		}
	}
	if steps == nil {
		return Instance{}, fmt.Errorf("saga: no definition for type %q given to Admin", inst.Type)
	}
	next, err := change(inst, steps, now)
	if err != nil {
		return Instance{}, err
	}
	next.LastError = inst.LastError
	h := HistoryEntry{Step: steps[min(inst.Step, len(steps)-1)].name, Phase: PhaseOperator, Outcome: Outcome(what), At: now}
	return a.Store.Update(ctx, inst, next, h)
}

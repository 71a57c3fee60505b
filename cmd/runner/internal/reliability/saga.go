package reliability

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/saga"
	"github.com/causewayhq/causeway/worker"
)

// sagaState is the saga's persisted state: its plan.
type sagaState struct {
	Plan plan `json:"plan"`
}

// Retry policies of the saga's steps: flaky actions (at most 3 failures)
// pass; a compensation that keeps failing reaches `failed` quickly, for the
// operator.
var (
	stepRetry = worker.RetryPolicy{MaxAttempts: 5, InitialBackoff: 300 * time.Millisecond,
		MaxBackoff: 2 * time.Second, JitterPercent: 20}
	compRetry = worker.RetryPolicy{MaxAttempts: 3, InitialBackoff: 100 * time.Millisecond,
		MaxBackoff: 300 * time.Millisecond, JitterPercent: 20}
)

// stepTimeout bounds one step attempt; effectDeadline is how long a step
// keeps trying to record its effect while PostgreSQL is away (it must be
// shorter).
const (
	stepTimeout    = 5 * time.Second
	effectDeadline = 4 * time.Second
)

// saga is a four-step saga (the first three with compensations) started by
// each SagaRequested event, whose steps fail as its plan says and record
// their effects keyed by their idempotency keys.
func (c *consumer) saga() saga.Saga {
	opts := []saga.Option{
		saga.StartOnType(sagaType, func(ctx context.Context, e eventlog.Envelope[plan]) (saga.Start[sagaState], error) {
			return saga.Start[sagaState]{CorrelationID: e.StreamID, State: sagaState{Plan: e.Data}}, nil
		}),
	}
	for i, name := range sagaSteps {
		step := []saga.StepOption{saga.Retry(stepRetry), saga.CompensateRetry(compRetry), saga.Timeout(stepTimeout)}
		if i < len(sagaSteps)-1 {
			step = append(step, saga.Compensate(c.step(i+1, true)))
		}
		opts = append(opts, saga.Step(name, c.step(i+1, false), step...))
	}
	return saga.New[sagaState](sagaName, opts...)
}

// step is the action (or compensation) of step n (from 1).
func (c *consumer) step(n int, compensate bool) saga.StepFunc[sagaState] {
	return func(ctx context.Context, sc *saga.StepContext[sagaState]) error {
		p := sc.State.Plan
		switch {
		case !compensate && p.FlakyStep == n && sc.Attempt <= p.FlakyN:
			return fmt.Errorf("%s (attempt %d)", errFlakyText, sc.Attempt)
		case !compensate && p.FailAt == n:
			return worker.Permanent(errors.New(errStepFailText))
		case compensate && p.CompFail == n:
			fixed, err := c.fixed(ctx, c.pool, "saga:"+sc.IdempotencyKey)
			if err != nil {
				return err
			}
			if !fixed {
				return errors.New(errCompFailText)
			}
		}
		if err := sleep(ctx, time.Duration(p.SlowMs)*time.Millisecond); err != nil {
			return err
		}
		return c.recordEffect(ctx, sc, n, compensate)
	}
}

// recordEffect records the step's effect under its idempotency key, the way
// an idempotent downstream system would: a re-run counts, it does not
// repeat. It keeps trying through a short PostgreSQL outage.
func (c *consumer) recordEffect(ctx context.Context, sc *saga.StepContext[sagaState], n int, compensate bool) error {
	ctx, cancel := context.WithTimeout(ctx, effectDeadline)
	defer cancel()
	t := c.tables
	for {
		_, err := c.pool.Exec(ctx, `INSERT INTO `+t.effects+` AS x (idem_key, saga_id, corr, step_no, compensation, runs,
				first_seq, last_seq, first_member, last_member, first_at, last_at)
			SELECT $1, $2, $3, $4, $5, 1, s.n, s.n, $6, $6, clock_timestamp(), clock_timestamp()
			  FROM (SELECT nextval('`+t.seq+`') AS n) s
			ON CONFLICT (idem_key) DO UPDATE SET runs = x.runs + 1, last_seq = excluded.last_seq,
				last_member = excluded.last_member, last_at = excluded.last_at`,
			sc.IdempotencyKey, sc.SagaID, sc.CorrelationID, n, compensate, c.member)
		if err == nil {
			return nil
		}
		if sleep(ctx, 100*time.Millisecond) != nil {
			return fmt.Errorf("record effect %s: %w", sc.IdempotencyKey, err)
		}
	}
}

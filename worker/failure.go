package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
)

// errBlocked is the error recorded for an event parked behind an earlier
// dead letter of its key.
var errBlocked = errors.New("blocked: an earlier event of this key is dead-lettered")

// capPollInterval is how often a halted partition checks whether operators
// have brought the dead letters back under the cap.
const capPollInterval = 2 * time.Second

// failing handles an event whose first delivery failed: retries with
// backoff (no transaction open while waiting), then the dead letters. It
// returns errStop when the partition must stop instead.
func (p *partition) failing(d delivery, firstErr error) error {
	for {
		attempts, lastErr, err := p.retryEvent(d, firstErr)
		if err != nil {
			return err
		}
		if lastErr == nil {
			return nil
		}
		if p.g.deadLetters.Load() < int64(p.g.sub.MaxDeadLetters) {
			return p.sendToDeadLetters(d, attempts, lastErr)
		}
		// At the cap: halt here, visibly, until operators make room; then
		// give the event a fresh round of attempts.
		if err := p.halt(); err != nil {
			return err
		}
		firstErr = nil
	}
}

// retryEvent retries one event per the retry policy. firstErr is the failure
// of attempt 1, or nil to start with a delivery. It returns the attempts
// made and the last handler error (nil: handled).
func (p *partition) retryEvent(d delivery, firstErr error) (int, error, error) {
	p.state.Store(stateRetrying)
	defer p.state.Store(stateRunning)
	backoff := p.g.sub.Retry.Backoff()
	attempts, lastErr := 0, firstErr
	if firstErr != nil {
		attempts = 1
		p.g.logAttempt(p, d, attempts, firstErr)
	}
	for lastErr == nil || !IsPermanent(lastErr) {
		if attempts > 0 {
			wait, stop := backoff.Next()
			if stop {
				break
			}
			if !p.pause(wait) {
				return attempts, lastErr, errStop
			}
		}
		attempts++
		var herr error
		err := p.retryInfra("retry event", func() error {
			var err error
			herr, err = p.attemptOne(d, attempts)
			return err
		})
		if err != nil {
			return attempts, lastErr, err
		}
		if herr == nil {
			return attempts, nil, nil
		}
		lastErr = herr
		p.g.logAttempt(p, d, attempts, herr)
	}
	return attempts, lastErr, nil
}

// pause waits between attempts; a stop request or abort ends the wait (the
// event stays unhandled and uncommitted: the next owner gets it again).
func (p *partition) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stopping:
	case <-p.work.Done():
	}
	return false
}

// attemptOne delivers one event on its own: in transactional mode in a
// transaction committed at the event; in at-least-once mode outside any,
// recording it as handled. It returns the handler's error, or an
// infrastructure error to be retried without counting an attempt.
func (p *partition) attemptOne(d delivery, attempt int) (handlerErr, err error) {
	if p.g.sub.Mode == AtLeastOnce {
		herr := p.deliver(nil, d, attempt)
		if herr == nil {
			p.handledAtLeastOnce(d)
		}
		return herr, nil
	}
	tx, err := p.g.store().Begin(p.work)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(p.work)
	if herr := p.deliver(tx.Pgx(), d, attempt); herr != nil {
		if isTransient(herr) {
			return nil, herr
		}
		return herr, nil
	}
	if err := p.commitTx(tx, d.event.Position, nil); err != nil {
		return nil, err
	}
	p.hookCommitted(d.event.Position, 1)
	return nil, nil
}

// sendToDeadLetters records the event as dead and blocks its key, moving
// the checkpoint past it in the same unit of work.
func (p *partition) sendToDeadLetters(d delivery, attempts int, cause error) error {
	err := p.retryInfra("dead-letter event", func() error {
		tx, err := p.g.store().Begin(p.work)
		if err != nil {
			return err
		}
		defer tx.Rollback(p.work)
		if err := tx.AddDeadLetter(p.work, p.deadLetter(d, false, attempts, cause)); err != nil {
			return err
		}
		return p.commitTx(tx, p.commitPosAfter(d), nil)
	})
	if err != nil {
		return err
	}
	p.blocked[d.key] = true
	p.g.deadLetters.Add(1)
	p.hookCommitted(p.committed, 1)
	p.g.w.cfg.Logger.Error("causeway: event dead-lettered; its key is blocked until the dead letter is retried or discarded",
		"subscription", p.g.sub.Name, "partition", p.lease.Partition, "key", d.key,
		"event_id", d.event.ID, "type", d.event.Type, "attempts", attempts, "err", cause)
	if h := p.g.w.cfg.Hooks.DeadLettered; h != nil {
		h(p.g.sub.Name, p.lease.Partition, &d.event, false, cause)
	}
	return nil
}

// commitPosAfter is the checkpoint once d is dealt with: in at-least-once
// mode events before it may be handled but unflushed, and are covered too.
func (p *partition) commitPosAfter(d delivery) eventlog.Position {
	if p.g.sub.Mode == AtLeastOnce {
		p.pending = d.event.Position
		p.unflushed = 0
		p.lastFlush = time.Now()
	}
	return d.event.Position
}

// afterParked reports events parked behind a dead key.
func (p *partition) afterParked(parked []delivery) {
	for i := range parked {
		p.g.deadLetters.Add(1)
		if h := p.g.w.cfg.Hooks.DeadLettered; h != nil {
			h(p.g.sub.Name, p.lease.Partition, &parked[i].event, true, errBlocked)
		}
	}
}

func (p *partition) deadLetter(d delivery, blocked bool, attempts int, cause error) checkpoint.DeadLetter {
	now := time.Now()
	return checkpoint.DeadLetter{
		Subscription: p.g.sub.Name, Partition: p.lease.Partition, Key: d.key,
		EventID: d.event.ID, Position: d.event.Position, StreamID: d.event.StreamID,
		Version: d.event.Version, Type: d.event.Type, Blocked: blocked,
		Error: errorText(cause), Attempts: attempts, FirstFailedAt: now, LastFailedAt: now,
	}
}

func errorText(err error) string {
	var pe *PanicError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%v\n%s", pe, pe.Stack)
	}
	return err.Error()
}

// halt waits, in the halted state, until the dead letters are under the
// cap again.
func (p *partition) halt() error {
	p.state.Store(stateHalted)
	defer p.state.Store(stateRunning)
	p.g.w.cfg.Logger.Error("causeway: dead-letter cap reached; partition halted until dead letters are retried or discarded",
		"subscription", p.g.sub.Name, "partition", p.lease.Partition, "cap", p.g.sub.MaxDeadLetters)
	if h := p.g.w.cfg.Hooks.Halted; h != nil {
		h(p.g.sub.Name, p.lease.Partition)
	}
	for {
		if !p.pause(capPollInterval) {
			return errStop
		}
		n, err := p.g.store().CountDeadLetters(p.work, p.g.sub.Name)
		if err != nil {
			continue
		}
		p.g.deadLetters.Store(int64(n))
		if n < p.g.sub.MaxDeadLetters {
			return nil
		}
	}
}

func (g *group) logAttempt(p *partition, d delivery, attempt int, err error) {
	g.w.cfg.Logger.Warn("causeway: handler failed", "subscription", g.sub.Name, "partition", p.lease.Partition,
		"key", d.key, "event_id", d.event.ID, "type", d.event.Type, "attempt", attempt,
		"permanent", IsPermanent(err), "err", err)
}

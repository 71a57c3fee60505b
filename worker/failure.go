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

// failed deals with an event whose first delivery failed. It is recorded at
// once, with the checkpoint moving past it, as the head of its key's dead
// letters: retried later by the partition on its own (retryDue) while the
// policy allows, dead for an operator otherwise. The key's later events
// park behind it, in order, and the partition's other keys go on: a key
// backing off never holds its partition. At the dead-letter cap the
// partition halts here instead, visibly, until operators make room. It
// returns errStop when the partition must stop.
func (p *partition) failed(d delivery, cause error) error {
	if skip, err := p.discardedSince(d); err != nil || skip {
		if err != nil {
			return err
		}
		return p.skipFailed(d)
	}
	p.g.countDeadLetters(p.work)
	for p.g.deadLetters.Load() >= int64(p.g.sub.MaxDeadLetters) {
		if err := p.halt(); err != nil {
			return err
		}
		// Room again: a fresh attempt, as if the event had just arrived.
		var herr error
		err := p.retryInfra("retry event", func() error {
			var err error
			herr, err = p.attemptOne(d, 1)
			return err
		})
		if err != nil || herr == nil {
			return err
		}
		cause = herr
	}
	now := p.clock().Now()
	attempts, next := p.retryAfter(1, cause, now, now)
	err := p.retryInfra("record failed event", func() error {
		tx, err := p.g.store().Begin(p.work)
		if err != nil {
			return err
		}
		defer tx.Rollback(p.work)
		if err := tx.PutDeadLetter(p.work, p.deadLetter(d, false, attempts, cause, next)); err != nil {
			return err
		}
		return p.commitTx(tx, p.commitPosAfter(d), nil)
	})
	if err != nil {
		return err
	}
	p.g.deadLetters.Add(1)
	p.hookCommitted(p.committed, 1)
	p.setBlocked(checkpoint.BlockedKey{Key: d.key, RetryAt: next})
	p.g.logAttempt(p, d, 1, cause, next)
	if next.IsZero() {
		p.hookDead(d, attempts, cause)
	}
	p.armRetry()
	return nil
}

// retryAfter returns how many attempts an event has used once the one that
// just failed with cause is counted, and when to try again (zero: never, it
// is dead). An outage — PostgreSQL away, a dropped connection, which an
// at-least-once handler's own writes can run into — is not the handler's
// failure: it is not counted, and the event is tried again with backoff
// until it passes, never dead-lettered for it.
func (p *partition) retryAfter(attempts int, cause error, since, now time.Time) (int, time.Time) {
	if isTransient(cause) {
		return attempts - 1, now.Add(p.g.sub.Retry.wait(max(attempts-1, 1)))
	}
	return attempts, p.g.sub.Retry.nextAttempt(attempts, cause, since, now)
}

// attemptOne delivers one event on its own: in transactional mode in a
// transaction committed at the event; in at-least-once mode outside any,
// recording it as handled. It returns the handler's error, or an
// infrastructure error to be retried without counting an attempt.
func (p *partition) attemptOne(d delivery, attempt int) (handlerErr, err error) {
	if p.g.sub.Mode == AtLeastOnce {
		herr := p.deliver(p.work, nil, d, attempt)
		if herr == nil {
			p.handledAtLeastOnce(d)
		}
		return herr, nil
	}
	tx, ctx, err := p.beginDelivery()
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(p.work)
	if herr := p.deliver(ctx, tx.Pgx(), d, attempt); herr != nil {
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

// hookDead reports an event that became a dead letter proper: its attempts
// ran out, or its error was permanent.
func (p *partition) hookDead(d delivery, attempts int, cause error) {
	p.g.w.cfg.Logger.Error("causeway: event dead-lettered; its key is blocked until the dead letter is retried or discarded",
		append(eventAttrs(p, d), "attempts", attempts, "err", cause)...)
	if h := p.g.w.cfg.Hooks.DeadLettered; h != nil {
		h(p.g.sub.Name, p.lease.Partition, &d.event, false, cause)
	}
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

func (p *partition) deadLetter(d delivery, blocked bool, attempts int, cause error, next time.Time) checkpoint.DeadLetter {
	now := p.clock().Now()
	return checkpoint.DeadLetter{
		Subscription: p.g.sub.Name, Partition: p.lease.Partition, Key: d.key,
		EventID: d.event.ID, Position: d.event.Position, StreamID: d.event.StreamID,
		Version: d.event.Version, Type: d.event.Type, Blocked: blocked,
		Error: errorText(cause), Attempts: attempts, FirstFailedAt: now, LastFailedAt: now,
		NextAttemptAt: next,
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
// cap again (discarded, or retried: it still serves retry requests).
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
		// Operators make room by discarding, or by retrying: a halted
		// partition still re-delivers the keys they ask for.
		if err := p.pollOwnRequests(); err != nil {
			return err
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

// pause waits d; a stop request or abort ends the wait early.
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

// logAttempt logs a failed delivery and what happens next.
func (g *group) logAttempt(p *partition, d delivery, attempt int, err error, next time.Time) {
	attrs := append(eventAttrs(p, d), "attempt", attempt, "permanent", IsPermanent(err), "err", err)
	if !next.IsZero() {
		attrs = append(attrs, "retry_in", next.Sub(g.w.cfg.Clock.Now()).Round(time.Millisecond))
	}
	g.w.cfg.Logger.Warn("causeway: handler failed", attrs...)
}

package worker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
)

// Dead letters are retried by the partition that owns them, in its own
// goroutine, so in order with its live events. A key is due when its first
// dead letter's NextAttemptAt has come (automatic retries with backoff),
// when an operator asked for a retry, or when its first one is a parked
// event (the failing one was discarded). Nothing waits in between: the
// partition goes on with its other keys, and a timer brings it back.

//
// The blocked keys are read once, at claim, and kept in memory: the
// partition's own failures, parkings and retries change them, and only
// operators' retries and discards come from elsewhere (another process,
// say). Those are found by the group's retry poll, which reads pending
// retry requests only (checkpoint.Store.RetryRequests) and hands each
// partition its keys; a discard that leaves a key without dead letters is
// found when an event of the key comes (refreshBlocked) or when its retry
// timer fires. So an idle partition costs nothing per dead letter.

// setBlocked and unblock keep blocked and its count together.
func (p *partition) setBlocked(k checkpoint.BlockedKey) {
	p.blocked[k.Key] = k
	p.blockedCount.Store(int64(len(p.blocked)))
}

func (p *partition) unblock(key string) {
	delete(p.blocked, key)
	p.blockedCount.Store(int64(len(p.blocked)))
}

// request hands the partition keys with retry requests, without waiting: a
// busy partition gets them again from the next poll (the requests stay
// until they are served).
func (p *partition) request(keys []string) {
	select {
	case p.requests <- keys:
	default:
	}
}

// serveRequests re-reads keys with a retry request and retries what is due.
func (p *partition) serveRequests(keys []string) error {
	if err := p.rereadKeys(keys); err != nil {
		return err
	}
	return p.retryDue()
}

// pollOwnRequests is the retry poll for this partition alone (a halted
// partition's loop does not serve requests).
func (p *partition) pollOwnRequests() error {
	var reqs map[int][]string
	if err := p.retryInfra("read retry requests", func() error {
		var err error
		reqs, err = p.g.store().RetryRequests(p.work, p.g.sub.Name)
		return err
	}); err != nil {
		return err
	}
	if keys := reqs[p.lease.Partition]; len(keys) > 0 {
		return p.serveRequests(keys)
	}
	return nil
}

// rereadKeys re-reads the dead-letter state of some keys: one without dead
// letters flows again.
func (p *partition) rereadKeys(keys []string) error {
	var got map[string]checkpoint.BlockedKey
	if err := p.retryInfra("read dead-lettered keys", func() error {
		var err error
		got, err = p.g.store().BlockedKeysOf(p.work, p.g.sub.Name, p.lease.Partition, keys)
		return err
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if b, ok := got[k]; ok {
			p.setBlocked(b)
		} else {
			p.unblock(k)
		}
	}
	p.armRetry()
	return nil
}

// refreshBlocked re-reads the batch's blocked keys before it would park
// their events: an operator may have discarded a key's dead letters since,
// and the key must flow again at once, not after its next retry.
func (p *partition) refreshBlocked(batch []delivery) error {
	if len(p.blocked) == 0 {
		return nil
	}
	var (
		keys []string
		seen map[string]bool
	)
	for _, d := range batch {
		if _, blocked := p.blocked[d.key]; blocked && !seen[d.key] {
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[d.key] = true
			keys = append(keys, d.key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	return p.rereadKeys(keys)
}

// armRetry sets the retry timer for the first key due.
func (p *partition) armRetry() {
	var next time.Time
	for _, k := range p.blocked {
		at := k.RetryAt
		if k.RetryRequested {
			at = time.Unix(0, 0)
		}
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	p.retryTimer.Stop()
	if !next.IsZero() {
		p.retryTimer.Reset(max(next.Sub(p.clock().Now()), 0))
	}
}

// retryDue re-delivers the keys that are due, the longest due first.
func (p *partition) retryDue() error {
	now := p.clock().Now()
	var due []checkpoint.BlockedKey
	for _, k := range p.blocked {
		if k.RetryRequested || !k.RetryAt.IsZero() && !k.RetryAt.After(now) {
			due = append(due, k)
		}
	}
	slices.SortFunc(due, func(a, b checkpoint.BlockedKey) int {
		if c := a.RetryAt.Compare(b.RetryAt); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	for _, k := range due {
		if p.stopRequested() {
			break
		}
		if err := p.retryKey(k); err != nil {
			return err
		}
	}
	p.armRetry()
	return nil
}

// retryKey re-delivers one key's dead letters in log order, one attempt
// each, the events parked behind the first one included (those parked after
// an operator's request too). The first failure keeps it and the rest dead-
// lettered; when all succeed the key flows again.
func (p *partition) retryKey(k checkpoint.BlockedKey) error {
	p.state.Store(stateRetrying)
	defer p.state.Store(stateRunning)
	var dls []checkpoint.DeadLetter
	if err := p.retryInfra("read dead letters", func() error {
		var err error
		dls, err = p.g.store().KeyDeadLetters(p.work, p.g.sub.Name, p.lease.Partition, k.Key)
		return err
	}); err != nil {
		return err
	}
	for i, dl := range dls {
		if i > 0 && p.stopRequested() {
			return nil // the rest stays parked, in order, for the next owner
		}
		var (
			event eventlog.Event
			found bool
		)
		if err := p.retryInfra("read dead-lettered event", func() error {
			var err error
			event, found, err = eventlog.ReadAt(p.work, p.g.log(), dl.Position)
			return err
		}); err != nil {
			return err
		}
		d := delivery{event: event, key: dl.Key}
		var herr error
		if !found {
			d.event = eventlog.Event{ID: dl.EventID, StreamID: dl.StreamID, Version: dl.Version, Type: dl.Type, Position: dl.Position}
			herr = Permanent(fmt.Errorf("event %s is no longer in the log (retention?); discard this dead letter", dl.EventID))
		} else {
			err := p.retryInfra("retry dead letter", func() error {
				var err error
				herr, err = p.redeliver(d, dl)
				return err
			})
			if err != nil {
				return err
			}
		}
		if herr != nil {
			return p.failedAgain(d, dl, herr, k.RetryRequested, dls[i+1:])
		}
		p.g.deadLetters.Add(-1)
	}
	p.unblock(k.Key)
	p.g.w.cfg.Logger.Info("causeway: dead-lettered key retried; it flows again",
		"subscription", p.g.sub.Name, "partition", p.lease.Partition, "key", k.Key, "events", len(dls))
	return nil
}

// redeliver handles one dead letter and removes it, in one unit of work in
// transactional mode. The checkpoint does not move (it is already past the
// event); whether an unknown-outcome commit landed is read back from the
// dead letter's absence.
func (p *partition) redeliver(d delivery, dl checkpoint.DeadLetter) (handlerErr, err error) {
	tx, ctx, err := p.beginDelivery()
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(p.work)
	var pgxTx = tx.Pgx()
	if p.g.sub.Mode == AtLeastOnce {
		pgxTx = nil
	}
	if herr := p.deliver(ctx, pgxTx, d, dl.Attempts+1); herr != nil {
		if isTransient(herr) && p.g.sub.Mode == Transactional {
			return nil, herr
		}
		return herr, nil
	}
	if err := tx.RemoveDeadLetter(p.work, p.g.sub.Name, dl.ID); err != nil {
		return nil, err
	}
	landed := func() (bool, error) {
		_, err := p.g.store().DeadLetter(p.work, p.g.sub.Name, dl.ID)
		if err == nil {
			return false, nil
		}
		if isNotFound(err) {
			return true, nil
		}
		return false, err
	}
	return nil, p.commitTx(tx, p.committed, landed)
}

// failedAgain records a failed re-delivery: the event leads its key's dead
// letters now (a parked event that failed becomes the failing one), to be
// retried on its own while the retry policy allows. A dead letter retried
// by an operator that fails again stays dead. The retry requests of the
// key's other dead letters are cleared, so none is re-delivered out of
// order.
func (p *partition) failedAgain(d delivery, dl checkpoint.DeadLetter, cause error, operator bool, rest []checkpoint.DeadLetter) error {
	now := p.clock().Now()
	wasDead := !dl.Blocked && !dl.Retrying()
	since := dl.FirstFailedAt
	if dl.Blocked {
		since = now // a parked event's first failure
	}
	attempts, next := p.retryAfter(dl.Attempts+1, cause, since, now)
	if operator && wasDead && !isTransient(cause) {
		// An operator's retry is one attempt; one that ran into an outage
		// was not an attempt (retryAfter), and is tried again with backoff.
		attempts, next = dl.Attempts+1, time.Time{}
	}
	dl.Blocked, dl.Error, dl.Attempts, dl.LastFailedAt, dl.NextAttemptAt = false, errorText(cause), attempts, now, next
	err := p.retryInfra("record failed retry", func() error {
		tx, err := p.g.store().Begin(p.work)
		if err != nil {
			return err
		}
		defer tx.Rollback(p.work)
		if err := tx.PutDeadLetter(p.work, dl); err != nil {
			return err
		}
		for _, r := range rest {
			if r.RetryRequested {
				if err := tx.PutDeadLetter(p.work, r); err != nil {
					return err
				}
			}
		}
		return p.commitTx(tx, p.committed, func() (bool, error) {
			got, err := p.g.store().DeadLetter(p.work, p.g.sub.Name, dl.ID)
			return err == nil && got.Attempts == attempts && !got.RetryRequested, err
		})
	})
	if err != nil {
		return err
	}
	p.setBlocked(checkpoint.BlockedKey{Key: dl.Key, RetryAt: next})
	p.g.logAttempt(p, d, attempts, cause, next)
	if next.IsZero() && !wasDead {
		p.hookDead(d, attempts, cause)
	}
	return nil
}

// DeadLetterAdmin is the operators' API to a subscription's dead letters:
// list, inspect, retry (the partition's owner re-delivers the whole key in
// order; the key resumes when all succeed) and discard.
type DeadLetterAdmin struct {
	Store checkpoint.Store
}

// List returns dead letters in id order.
func (a DeadLetterAdmin) List(ctx context.Context, q checkpoint.DeadLetterQuery) ([]checkpoint.DeadLetter, error) {
	return a.Store.DeadLetters(ctx, q)
}

// Get returns one dead letter.
func (a DeadLetterAdmin) Get(ctx context.Context, sub string, id int64) (checkpoint.DeadLetter, error) {
	return a.Store.DeadLetter(ctx, sub, id)
}

// Retry asks the owner of the dead letter's partition to re-deliver its
// key's dead letters in order, within its RetryPollInterval.
func (a DeadLetterAdmin) Retry(ctx context.Context, sub string, id int64) error {
	return a.Store.RequestRetry(ctx, sub, id)
}

// Discard drops a dead letter unhandled and remembers its event for the
// subscription's lineage, with who discarded it (by): the worker never
// delivers that event again, not after a replay nor in a later build.
// Discarding the key's first dead letter releases the ones parked behind it
// (re-delivered in order); the key resumes once it has none left.
func (a DeadLetterAdmin) Discard(ctx context.Context, sub string, id int64, by string) error {
	return a.Store.Discard(ctx, sub, id, by)
}

// RetryMatching asks for a retry of every key with a dead letter f selects:
// each key's dead letters are re-delivered in order.
func (a DeadLetterAdmin) RetryMatching(ctx context.Context, f checkpoint.DeadLetterFilter) (checkpoint.BulkResult, error) {
	return a.Store.RetryDeadLetters(ctx, f)
}

// DiscardMatching discards every dead letter f selects, as Discard.
func (a DeadLetterAdmin) DiscardMatching(ctx context.Context, f checkpoint.DeadLetterFilter, by string) (checkpoint.BulkResult, error) {
	return a.Store.DiscardDeadLetters(ctx, f, by)
}

// Discarded lists the discards remembered for a subscription's lineage.
func (a DeadLetterAdmin) Discarded(ctx context.Context, q checkpoint.DiscardedQuery) ([]checkpoint.DiscardedEvent, error) {
	return a.Store.DiscardedEvents(ctx, q)
}

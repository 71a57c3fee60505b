package worker

import (
	"context"
	"fmt"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
)

// retryDeadLetters runs in the partition goroutine (so in order with live
// events): it refreshes the blocked keys — operators may have discarded
// dead letters — and re-delivers the keys whose retry was requested.
func (p *partition) retryDeadLetters() error {
	var dls []checkpoint.DeadLetter
	err := p.retryInfra("read retry requests", func() error {
		if err := p.readBlocked(); err != nil {
			return err
		}
		var err error
		dls, err = p.g.store().RetryRequested(p.work, p.g.sub.Name, p.lease.Partition)
		return err
	})
	if err != nil {
		return err
	}
	for i := 0; i < len(dls); {
		j := i
		for j < len(dls) && dls[j].Key == dls[i].Key {
			j++
		}
		if err := p.retryKey(dls[i:j]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// refreshBlocked re-reads the blocked keys before a batch that would park
// events: an operator may have discarded the key's dead letters since, and
// the key must flow again at once, not after the next retry poll.
func (p *partition) refreshBlocked(batch []delivery) error {
	if len(p.blocked) == 0 {
		return nil
	}
	for _, d := range batch {
		if p.blocked[d.key] {
			return p.retryInfra("load dead-lettered keys", p.readBlocked)
		}
	}
	return nil
}

// retryKey re-delivers one key's dead letters in order, one attempt each.
// The first failure keeps it and the rest dead-lettered (their retry
// requests cleared); when all succeed the key flows again.
func (p *partition) retryKey(dls []checkpoint.DeadLetter) error {
	for k, dl := range dls {
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
		var herr error
		if !found {
			herr = fmt.Errorf("event %s is no longer in the log (retention?); discard this dead letter", dl.EventID)
		} else {
			d := delivery{event: event, key: dl.Key}
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
			p.g.logAttempt(p, delivery{event: event, key: dl.Key}, dl.Attempts+1, herr)
			return p.keepDead(dl, herr, dls[k+1:])
		}
		p.g.deadLetters.Add(-1)
	}
	delete(p.blocked, dls[0].Key)
	p.g.w.cfg.Logger.Info("causeway: dead-lettered key retried; it flows again",
		"subscription", p.g.sub.Name, "partition", p.lease.Partition, "key", dls[0].Key, "events", len(dls))
	return nil
}

// redeliver handles one dead letter and removes it, in one unit of work in
// transactional mode. The checkpoint does not move (it is already past the
// event); whether an unknown-outcome commit landed is read back from the
// dead letter's absence.
func (p *partition) redeliver(d delivery, dl checkpoint.DeadLetter) (handlerErr, err error) {
	tx, err := p.g.store().Begin(p.work)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(p.work)
	var pgxTx = tx.Pgx()
	if p.g.sub.Mode == AtLeastOnce {
		pgxTx = nil
	}
	if herr := p.deliver(pgxTx, d, dl.Attempts+1); herr != nil {
		if isTransient(herr) {
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

// keepDead records a failed retry and clears the retry requests of the
// key's remaining dead letters, so none is re-delivered out of order.
func (p *partition) keepDead(failed checkpoint.DeadLetter, cause error, rest []checkpoint.DeadLetter) error {
	return p.retryInfra("record failed retry", func() error {
		tx, err := p.g.store().Begin(p.work)
		if err != nil {
			return err
		}
		defer tx.Rollback(p.work)
		failed.Error, failed.Attempts, failed.LastFailedAt = errorText(cause), 1, p.now()
		if err := tx.AddDeadLetter(p.work, failed); err != nil {
			return err
		}
		for _, dl := range rest {
			dl.Attempts = 0
			if err := tx.AddDeadLetter(p.work, dl); err != nil {
				return err
			}
		}
		return p.commitTx(tx, p.committed, func() (bool, error) {
			dl, err := p.g.store().DeadLetter(p.work, p.g.sub.Name, failed.ID)
			return err == nil && !dl.RetryRequested, err
		})
	})
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

// Discard drops a dead letter unhandled. The key resumes once it has no
// dead letters left.
func (a DeadLetterAdmin) Discard(ctx context.Context, sub string, id int64) error {
	return a.Store.Discard(ctx, sub, id)
}

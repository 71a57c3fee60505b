package worker

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
)

// handleTransactional handles a batch in transactions of at most BatchSize
// events and BatchMaxDuration each, moving the checkpoint in each. When a
// handler fails, the transaction rolls back; the events before the failing
// one are handled again in a new transaction and committed, and the failing
// one is recorded for retries (its key's later events wait behind it, the
// partition's other keys go on). A stop request ends the batch after the
// transaction in hand: the rest is left to the next owner.
func (p *partition) handleTransactional(batch []delivery, mark eventlog.Position) error {
	if len(batch) == 0 {
		return p.commitMark(mark, false)
	}
	if err := p.refreshBlocked(batch); err != nil {
		return err
	}
	// limit is how many events the next transaction may take: the whole
	// rest, or, after a failure, the events before the failing one (they
	// are handled again and committed first; failure waits for them).
	limit := len(batch)
	var failure error
	for len(batch) > 0 {
		if p.stopRequested() {
			return nil
		}
		if limit == 0 {
			if err := p.failed(batch[0], failure); err != nil {
				return err
			}
			batch, failure = batch[1:], nil
			limit = len(batch)
			continue
		}
		var (
			done, failAt int
			handlerErr   error
		)
		err := p.retryInfra("handle batch", func() error {
			var err error
			done, failAt, handlerErr, err = p.txChunk(batch[:limit], mark, limit == len(batch))
			return err
		})
		if err != nil {
			return err
		}
		batch = batch[done:]
		switch {
		case failAt >= 0:
			limit, failure = failAt, handlerErr
		case failure != nil:
			limit -= done
		default:
			limit = len(batch)
		}
	}
	// Every event up to the mark is dealt with; if the last transaction did
	// not reach it (a dead letter ended the batch), the flush tick commits it.
	if p.pending.Before(mark) {
		p.pending = mark
	}
	return nil
}

// txChunk handles events in one transaction until they run out, the batch
// duration is reached, a stop is requested or a handler fails. It returns
// how many were committed, or the index and error of the failing event
// (nothing committed), or an infrastructure error.
func (p *partition) txChunk(events []delivery, mark eventlog.Position, last bool) (done, failAt int, handlerErr, err error) {
	tx, ctx, err := p.beginDelivery()
	if err != nil {
		return 0, -1, nil, err
	}
	defer tx.Rollback(p.work)
	start := time.Now()
	var parked []delivery
	i := 0
	for ; i < len(events); i++ {
		if i >= p.g.sub.BatchSize || i > 0 && (time.Since(start) > p.g.sub.BatchMaxDuration || p.stopRequested()) {
			last = false
			break
		}
		d := events[i]
		if p.isDiscarded(d) {
			continue // the checkpoint moves past it with the rest
		}
		if _, blocked := p.blocked[d.key]; blocked {
			if err := tx.PutDeadLetter(p.work, p.deadLetter(d, true, 0, errBlocked, time.Time{})); err != nil {
				return 0, -1, nil, err
			}
			parked = append(parked, d)
			continue
		}
		if herr := p.deliver(ctx, tx.Pgx(), d, 1); herr != nil {
			if isTransient(herr) {
				return 0, -1, nil, herr
			}
			return 0, i, herr, nil
		}
	}
	pos := events[i-1].event.Position
	if last && pos.Before(mark) {
		pos = mark
	}
	if err := p.commitTx(tx, pos, nil); err != nil {
		return 0, -1, nil, err
	}
	p.hookCommitted(pos, i)
	p.afterParked(parked)
	return i, -1, nil, nil
}

// commitMark moves an idle partition's checkpoint to a mark, at most once
// per FlushInterval, so a restart does not rescan what the filter skipped.
// A mark that comes sooner waits in pending for the flush tick (force): the
// reader sends a mark once, and a caught-up cursor does not move while
// nothing is appended, so a dropped mark would leave the checkpoint behind.
func (p *partition) commitMark(mark eventlog.Position, force bool) error {
	if p.pending.Before(mark) {
		p.pending = mark
	}
	mark = p.pending
	if !p.committed.Before(mark) || !force && time.Since(p.lastFlush) < p.g.sub.FlushInterval {
		return nil
	}
	err := p.retryInfra("commit checkpoint", func() error { return p.g.store().Commit(p.work, p.lease, mark) })
	if err != nil {
		return err
	}
	p.lastFlush = time.Now()
	p.hookCommitted(mark, 0)
	return nil
}

// commitTx commits a unit of work at pos. When COMMIT fails with an unknown
// outcome (the connection dropped while it was in flight), the outcome is
// read back: only this lease can move the checkpoint, so if it stands at pos
// now, the commit happened — retrying it would apply the handlers twice.
// landed, if set, tells whether a commit that does not move the checkpoint
// happened.
func (p *partition) commitTx(tx checkpoint.Tx, pos eventlog.Position, landed func() (bool, error)) error {
	err := tx.Commit(p.work, p.lease, pos)
	if err == nil || errors.Is(err, checkpoint.ErrFenced) || !isTransient(err) && !errors.Is(err, pgx.ErrTxCommitRollback) {
		if err == nil {
			p.committed = pos
			p.afterCommit.committed(tx)
		}
		return err
	}
	var ok bool
	rerr := p.retryInfra("confirm commit", func() error {
		var e error
		if landed != nil {
			ok, e = landed()
			return e
		}
		ok, e = p.checkpointAt(pos)
		return e
	})
	if rerr != nil {
		return rerr
	}
	if ok {
		p.committed = pos
		p.afterCommit.committed(tx)
		return nil
	}
	return err
}

// checkpointAt reads the partition back: has the checkpoint reached pos
// under this lease? A lost lease is ErrFenced.
func (p *partition) checkpointAt(pos eventlog.Position) (bool, error) {
	parts, err := p.g.store().Partitions(p.work, p.g.sub.Name)
	if err != nil {
		return false, err
	}
	for _, ps := range parts {
		if ps.Partition != p.lease.Partition {
			continue
		}
		if ps.Epoch != p.lease.Epoch || ps.Owner != p.lease.Owner {
			return false, checkpoint.ErrFenced
		}
		return !ps.Checkpoint.Before(pos), nil
	}
	return false, checkpoint.ErrNotFound
}

// deliver runs the handler once, with ctx (p.work, or what a BeforeTx hook
// derived from it).
func (p *partition) deliver(ctx context.Context, tx pgx.Tx, d delivery, attempt int) error {
	del := &Delivery{
		Event:        d.event,
		Subscription: p.g.sub.Name,
		Partition:    p.lease.Partition,
		Key:          d.key,
		Attempt:      attempt,
		Tx:           tx,
	}
	if tx != nil {
		del.afterCommit = &p.afterCommit
	}
	h := p.g.w.cfg.Hooks.Handled
	if h == nil {
		// Timing only for the hook: two clock reads per event show in a
		// catch-up with cheap handlers.
		err := call(ctx, p.g.sub.Handler, del)
		p.handled.Add(1)
		return err
	}
	start := time.Now()
	err := call(ctx, p.g.sub.Handler, del)
	p.handled.Add(1)
	h(ctx, del, time.Since(start), err)
	return err
}

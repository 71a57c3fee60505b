package worker

import (
	"slices"
	"time"

	"github.com/causewayhq/causeway/eventlog"
)

// handleAtLeastOnce handles a batch outside any transaction, flushing the
// checkpoint every FlushEvents events or FlushInterval. A stop request ends
// the batch after the event in hand; the partition then flushes what it
// handled (see finish).
func (p *partition) handleAtLeastOnce(batch []delivery, mark eventlog.Position) error {
	if err := p.refreshBlocked(batch); err != nil {
		return err
	}
	start := time.Now()
	for i, d := range batch {
		if p.work.Err() != nil {
			return errStop
		}
		if i > 0 && p.stopRequested() {
			return nil
		}
		if i > 0 && time.Since(start) > p.g.sub.BatchMaxDuration {
			// Back to the loop for due retries and flushes; the rest follows.
			p.carryBack(batch[i:], mark)
			return nil
		}
		if p.isDiscarded(d) {
			p.handledAtLeastOnce(d) // passed over: the checkpoint moves past it
			continue
		}
		if _, blocked := p.blocked[d.key]; blocked {
			if err := p.park(d); err != nil {
				return err
			}
			continue
		}
		herr := p.deliver(p.work, nil, d, 1)
		switch {
		case herr == nil:
			p.handledAtLeastOnce(d)
		default:
			if err := p.failed(d, herr); err != nil {
				return err
			}
		}
		if p.flushDue(false) {
			if err := p.flush(); err != nil {
				return err
			}
		}
	}
	if p.pending.Before(mark) {
		p.pending = mark
	}
	if p.flushDue(false) {
		return p.flush()
	}
	return nil
}

// carryBack puts the unhandled rest of a batch back in front of what gather
// carried over already: the rest comes first, and the mark that counts is
// the carried message's (later) one, or the batch's when nothing was.
func (p *partition) carryBack(rest []delivery, mark eventlog.Position) {
	m := message{events: rest, mark: mark}
	if c := p.carry; c != nil {
		m.events = append(slices.Clip(rest), c.events...)
		m.mark, m.more = c.mark, c.more
	}
	p.carry = &m
}

func (p *partition) handledAtLeastOnce(d delivery) {
	p.pending = d.event.Position
	p.unflushed++
}

// park dead-letters an event of a blocked key, with the checkpoint.
func (p *partition) park(d delivery) error {
	err := p.retryInfra("park event", func() error {
		tx, err := p.g.store().Begin(p.work)
		if err != nil {
			return err
		}
		defer tx.Rollback(p.work)
		if err := tx.PutDeadLetter(p.work, p.deadLetter(d, true, 0, errBlocked, time.Time{})); err != nil {
			return err
		}
		return p.commitTx(tx, p.commitPosAfter(d), nil)
	})
	if err != nil {
		return err
	}
	p.afterParked([]delivery{d})
	return nil
}

// flushDue reports whether handled events should be checkpointed now.
func (p *partition) flushDue(force bool) bool {
	if !p.committed.Before(p.pending) {
		return false
	}
	return force || p.unflushed >= p.g.sub.FlushEvents || time.Since(p.lastFlush) >= p.g.sub.FlushInterval
}

func (p *partition) flush() error {
	pos := p.pending
	err := p.retryInfra("flush checkpoint", func() error { return p.g.store().Commit(p.work, p.lease, pos) })
	if err != nil {
		return err
	}
	n := p.unflushed
	p.unflushed, p.lastFlush = 0, time.Now()
	p.hookCommitted(pos, n)
	return nil
}

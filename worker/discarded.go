package worker

import (
	"github.com/causewayhq/causeway/checkpoint"
)

// Events an operator discarded are never delivered again to the
// subscription's lineage (a versioned projection's builds share it): not
// after a replay, a move, or in a later build. A partition reads the ids
// discarded in it once, when it is claimed (one indexed query; nothing is
// polled afterwards, however many there are), and passes over those events
// as if handled: the checkpoint moves past them, nothing is dead-lettered,
// the key is not parked. A discard made while the partition runs concerns
// an event already behind it; it counts again only once the partition is
// reset or moved, which fences it and makes the next owner read the set
// afresh. A partition claimed before a discard (another build running
// beside) might still meet the event with the old set: before recording a
// failure, the partition asks the store once more (failed), so that event
// is never dead-lettered nor parks its key again.

// loadDiscarded reads the partition's discarded event ids, retrying while
// the database is away. It reports false if the partition must stop.
func (p *partition) loadDiscarded() bool {
	return p.retryInfra("load discarded events", func() error {
		set, err := p.g.store().DiscardedIDs(p.work, p.g.sub.Name, p.lease.Partition)
		if err == nil {
			p.discarded = set
		}
		return err
	}) == nil
}

// isDiscarded reports whether d's event was discarded by an operator (as
// known at claim, or since learnt).
func (p *partition) isDiscarded(d delivery) bool {
	if p.discarded.Has(d.event.ID) {
		p.g.w.cfg.Logger.Debug("causeway: event skipped: an operator discarded it", eventAttrs(p, d)...)
		return true
	}
	return false
}

// discardedSince asks the store whether an event that just failed was
// discarded after the partition loaded its set; if so it is learnt, and
// passed over instead of dead-lettered.
func (p *partition) discardedSince(d delivery) (bool, error) {
	var yes bool
	err := p.retryInfra("check discarded event", func() error {
		var err error
		yes, err = p.g.store().IsDiscarded(p.work, p.g.sub.Name, d.event.ID)
		return err
	})
	if err != nil || !yes {
		return false, err
	}
	if p.discarded == nil {
		p.discarded = checkpoint.EventSet{}
	}
	p.discarded[d.event.ID] = struct{}{}
	p.g.w.cfg.Logger.Info("causeway: failed event not dead-lettered: an operator discarded it", eventAttrs(p, d)...)
	return true, nil
}

// skipFailed moves the checkpoint past a failed event that was discarded,
// as if it had been handled.
func (p *partition) skipFailed(d delivery) error {
	pos := p.commitPosAfter(d)
	err := p.retryInfra("skip discarded event", func() error { return p.g.store().Commit(p.work, p.lease, pos) })
	if err != nil {
		return err
	}
	p.hookCommitted(pos, 1)
	return nil
}

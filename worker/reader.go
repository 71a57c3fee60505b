package worker

import (
	"context"
	"time"

	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/backoff"
	"github.com/causewayhq/causeway/internal/pgtext"
)

// delivery is an event on its way to a partition, with its key.
type delivery struct {
	event eventlog.Event
	key   string
}

// message is what the reader sends a partition: events in order, then a
// mark — every event of the partition at or before it has been sent, so the
// partition may move its checkpoint there even if it got none of them.
type message struct {
	events []delivery
	mark   eventlog.Position
	// more: the reader had not caught up, so another message follows
	// at once; the partition may wait for it to fill a bigger batch.
	more bool
}

// readLoop is the process's single reader for the subscription.
func (g *group) readLoop(ctx context.Context) {
	tail := g.log().Tailer().Subscribe()
	defer tail.Close()

	var (
		cursor   eventlog.Position
		started  bool
		known    = map[*partition]bool{}
		backoff  = backoff.New(50*time.Millisecond, 5*time.Second)
		idleWait = time.Second // safety net under the tailer's signals
	)
	for ctx.Err() == nil {
		parts := g.ownedPartitions()
		if len(parts) == 0 {
			started = false
			clear(known)
			select {
			case <-ctx.Done():
			case <-g.changed:
			}
			continue
		}
		// Newly owned partitions may be behind the cursor: rewind to them.
		// The others skip what they already have (dispatched).
		for _, p := range parts {
			if !known[p] {
				known[p] = true
				if !started || p.lease.Checkpoint.Before(cursor) {
					cursor = p.lease.Checkpoint
				}
				started = true
			}
		}
		for p := range known {
			if p.isDone() {
				delete(known, p)
			}
		}

		batch, err := g.log().ReadBatch(ctx, cursor, g.sub.Filter, g.w.cfg.ReadBatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait := backoff.Next()
			g.warn("causeway: read failed; retrying", "err", err, "retry_in", wait)
			sleep(ctx, wait)
			continue
		}
		backoff.Reset()
		markDropped := g.dispatch(ctx, parts, batch)
		cursor = batch.Next
		if !batch.CaughtUp {
			continue
		}
		wait := idleWait
		if markDropped {
			// A busy partition had no room for its mark: read again soon
			// (the next read sends the mark again) rather than leave its
			// checkpoint behind the head for the whole idle wait.
			wait = markRetryWait
		}
		select {
		case <-ctx.Done():
		case <-tail.C:
		case <-g.changed:
		case <-time.After(wait):
		}
	}
}

// markRetryWait is how soon a caught-up reader reads again when a mark could
// not be handed to a busy partition.
const markRetryWait = 25 * time.Millisecond

// dispatch hands a batch to the owned partitions, blocking on full ones
// (back-pressure) unless they stop. It reports whether a mark alone was
// not handed over because a partition's buffer was full.
func (g *group) dispatch(ctx context.Context, parts []*partition, batch eventlog.Batch) (markDropped bool) {
	// Partitions by number, and each one's events: slices, not maps, as
	// this runs for every event of a catch-up.
	byPart := make([]*partition, g.sub.Partitions)
	slot := make([]int, g.sub.Partitions) // index into out, per partition number
	for i, p := range parts {
		byPart[p.lease.Partition] = p
		slot[p.lease.Partition] = i
	}
	// Two passes, so that each partition's slice is allocated once at its
	// size: growing them event by event showed in catch-up profiles.
	type routed struct {
		p   *partition
		key string
	}
	route := make([]routed, len(batch.Events))
	counts := make([]int, len(parts))
	for i := range batch.Events {
		e := &batch.Events[i]
		// Keys are stored with dead letters: one PostgreSQL could not store
		// must not stall the partition, and must match itself when read back.
		key := pgtext.Sanitize(g.sub.Key(e))
		p := byPart[PartitionOf(key, g.sub.Partitions)]
		if p == nil || p.closed || !p.dispatched.Before(e.Position) {
			continue // not ours, or already handed over before a rewind
		}
		route[i] = routed{p, key}
		counts[slot[p.lease.Partition]]++
	}
	out := make([][]delivery, len(parts))
	for i, n := range counts {
		if n > 0 {
			out[i] = make([]delivery, 0, n)
		}
	}
	for i, r := range route {
		if r.p != nil {
			j := slot[r.p.lease.Partition]
			out[j] = append(out[j], delivery{event: batch.Events[i], key: r.key})
		}
	}
	for i, p := range parts {
		if p.closed {
			continue
		}
		msg := message{events: out[i], more: !batch.CaughtUp}
		if batch.CaughtUp || len(msg.events) == 0 {
			// Everything up to the batch's end has been seen: let the
			// partition's checkpoint follow even without events.
			msg.mark = batch.Next
		}
		if len(msg.events) == 0 && !p.dispatched.Before(msg.mark) {
			continue
		}
		// Marks alone are an optimisation: never wait for room for one.
		if !p.send(ctx, msg, len(msg.events) > 0) {
			if len(msg.events) == 0 {
				markDropped = true
			} else {
				// Events not handed over: nothing after them may be, or
				// the partition could commit past them. It is stopping;
				// its next owner starts from its checkpoint.
				p.closed = true
			}
			continue
		}
		if n := len(msg.events); n > 0 {
			p.dispatched = msg.events[n-1].event.Position
		}
		if p.dispatched.Before(msg.mark) {
			p.dispatched = msg.mark
		}
	}
	return markDropped
}

package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
)

// partition handles one leased partition's events in order.
//
// Stopping is the delicate part. The reader hands messages over in log
// order, and a partition handles a prefix of them: once a stop is requested
// it takes nothing more from its inbox (not even a message that is already
// waiting there), finishes the chunk in hand, commits what it handled and
// gives its lease back. The reader, for its part, sends nothing more to a
// partition once one message with events could not be handed over. So the
// checkpoint never passes an event that was not handled, and the next owner
// starts right after the last one that was.
type partition struct {
	g     *group
	lease checkpoint.Lease
	in    chan message
	// carry is the rest of a message that did not fit in the last batch;
	// only the partition's goroutine touches it.
	carry *message

	// dispatched and closed are the reader's own bookkeeping (only the
	// reader goroutine touches them): the last position handed over, and
	// whether a message with events was refused (nothing more may follow).
	dispatched eventlog.Position
	closed     bool

	// stopping asks the loop to finish what it holds and exit; work is
	// cancelled (abort) for a hard stop: lost lease, shutdown deadline.
	stopping chan struct{}
	stopOnce sync.Once
	// stopFlag is set before stopping closes and before work is cancelled:
	// stopRequested reads it for every event of a batch, and a select on
	// two channels there showed in catch-up profiles.
	stopFlag atomic.Bool
	reason   atomic.Value // string: why the partition stops, for logs and hooks
	work     context.Context
	abort    context.CancelFunc
	done     chan struct{}
	lost     atomic.Bool // the lease is gone: never release or commit
	// releasing is set once the partition gives its lease back, so the
	// membership loop does not mistake the release for a lost lease.
	releasing atomic.Bool
	finished  atomic.Bool

	committed eventlog.Position // last committed checkpoint
	// afterCommit holds Delivery.AfterCommit's functions for the unit of
	// work in hand.
	afterCommit afterCommit
	pending     eventlog.Position // at-least-once: handled but not flushed; transactional: a mark not committed yet
	unflushed   int
	lastFlush   time.Time
	// blocked holds the keys with dead letters (their events wait behind
	// the first one) and when each is due for a retry: loaded once at claim,
	// then kept by the partition itself (see deadletters.go). blockedCount
	// is its size, for the group's retry poll.
	blocked      map[string]checkpoint.BlockedKey
	blockedCount atomic.Int64
	// requests brings the keys operators asked to retry, from the group's
	// retry poll.
	requests   chan []string
	retryTimer Timer        // on the worker's Clock
	state      atomic.Value // string, see LocalPartitionStatus
	handled    atomic.Int64

	// discarded holds the events operators discarded: passed over
	// (discarded.go).
	discarded checkpoint.EventSet
}

func newPartition(g *group, l checkpoint.Lease) *partition {
	work, cancel := context.WithCancel(context.Background())
	p := &partition{
		g:          g,
		lease:      l,
		in:         make(chan message, g.w.cfg.PartitionBuffer),
		dispatched: l.Checkpoint,
		stopping:   make(chan struct{}),
		work:       work,
		done:       make(chan struct{}),
		committed:  l.Checkpoint,
		pending:    l.Checkpoint,
		blocked:    map[string]checkpoint.BlockedKey{},
		requests:   make(chan []string, 1),
	}
	p.abort = func() {
		p.stopFlag.Store(true)
		cancel()
	}
	p.state.Store(stateStarting)
	return p
}

// Partition states as LocalStatus reports them.
const (
	stateStarting = "starting"
	stateRunning  = "running"
	stateRetrying = "retrying"
	stateHalted   = "halted: dead-letter cap reached"
	stateStopping = "stopping"
	stateStopped  = "stopped"
)

// Reasons a partition stops, as logs and the LeaseChanged hook give them.
const (
	reasonRebalance = "rebalance"
	reasonShutdown  = "shutdown"
	reasonLost      = "lease lost"
	reasonFenced    = "fenced"
)

// stop asks the partition to finish what it holds and exit (graceful).
func (p *partition) stop(reason string) {
	p.stopOnce.Do(func() {
		p.stopFlag.Store(true)
		p.reason.Store(reason)
		p.state.Store(stateStopping)
		close(p.stopping)
	})
}

// lose stops the partition at once: its lease belongs to another member now,
// so nothing more may be committed.
func (p *partition) lose(reason string) {
	p.lost.Store(true)
	p.stop(reason)
	p.abort()
}

func (p *partition) isDone() bool { return p.finished.Load() }

// stopRequested reports, without waiting, whether the partition must stop.
func (p *partition) stopRequested() bool { return p.stopFlag.Load() }

// send hands a message to the partition; with block false it gives up when
// the buffer is full. It reports whether the message was taken. A partition
// asked to stop takes nothing more.
func (p *partition) send(ctx context.Context, m message, block bool) bool {
	if p.stopRequested() {
		return false
	}
	if !block {
		select {
		case p.in <- m:
			return true
		default:
			return false
		}
	}
	select {
	case p.in <- m:
		return true
	case <-ctx.Done():
	case <-p.stopping:
	case <-p.work.Done():
	}
	return false
}

// errStop ends the partition loop: stop requested, lease lost, or shutdown.
var errStop = errors.New("partition stopping")

func (p *partition) run() {
	defer p.exit()
	if !p.loadBlockedKeys() || !p.loadDiscarded() {
		return
	}
	p.state.Store(stateRunning)
	sub := p.g.sub
	flush := time.NewTicker(sub.FlushInterval)
	defer flush.Stop()
	p.retryTimer = p.clock().NewTimer(time.Hour)
	defer p.retryTimer.Stop()
	p.armRetry()
	for {
		if p.stopRequested() {
			return
		}
		var msg message
		if p.carry != nil {
			// Due retries first: a long batch must not hold other keys' retries.
			select {
			case <-p.retryTimer.C():
				if p.retryDue() != nil {
					return
				}
			default:
			}
			msg, p.carry = *p.carry, nil
		} else {
			select {
			case <-p.stopping:
				return
			case <-p.work.Done():
				return
			case <-p.retryTimer.C():
				if p.retryDue() != nil {
					return
				}
				continue
			case keys := <-p.requests:
				if p.serveRequests(keys) != nil {
					return
				}
				continue
			case <-flush.C:
				if sub.Mode == AtLeastOnce && p.flushDue(true) && p.flush() != nil {
					return
				}
				if sub.Mode == Transactional && p.commitMark(p.pending, true) != nil {
					return
				}
				continue
			case msg = <-p.in:
				// Both may have been ready: a stop request wins, and the
				// message is left unhandled (the checkpoint is before it).
				if p.stopRequested() {
					return
				}
			}
		}
		batch, mark := p.gather(msg)
		var err error
		if sub.Mode == Transactional {
			err = p.handleTransactional(batch, mark)
		} else {
			err = p.handleAtLeastOnce(batch, mark)
		}
		if err != nil {
			return // fenced, aborted or stopping
		}
	}
}

// exit ends the partition: a graceful stop commits what was handled and
// gives the lease back at once, so the next owner need not wait for it to
// expire; a lost lease commits and releases nothing.
func (p *partition) exit() {
	if !p.lost.Load() && p.work.Err() == nil {
		p.finish()
	}
	p.stop(reasonShutdown) // no-op when a reason was given already
	p.state.Store(stateStopped)
	if !p.lost.Load() {
		p.releasing.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
		if err := p.g.leases().Release(ctx, []checkpoint.Lease{p.lease}); err != nil {
			p.g.warn("causeway: release lease failed; it expires after the TTL", "partition", p.lease.Partition, "err", err)
		}
		cancel()
	}
	p.finished.Store(true)
	p.abort()
	p.g.removePartition(p, p.reason.Load().(string))
	close(p.done) // last: whoever waits for it sees the partition gone
}

// releaseTimeout bounds giving a lease back; if it fails, the lease simply
// expires.
const releaseTimeout = 5 * time.Second

// gather builds a batch of at most BatchSize events from first and what
// else is waiting, for bigger transactions; what does not fit is carried
// over to the next batch. While the reader is catching up (message.more),
// it also waits for the messages that follow, as long as each comes within
// lingerGap and the whole wait stays under a fifth of BatchMaxDuration:
// with many partitions each read hands every partition only a slice of a
// read batch, and a transaction per slice would cost more than the
// handlers. Nothing is held while waiting (no transaction is open yet), and
// a caught-up reader's events go straight through. A stop request ends the
// gathering, and a message taken together with it is left unhandled.
func (p *partition) gather(first message) (batch []delivery, mark eventlog.Position) {
	limit := p.g.sub.BatchSize
	more := false
	// add takes m into the batch and reports whether the batch is full. A
	// message's mark counts only once all its events are in.
	add := func(m message) bool {
		if room := limit - len(batch); len(m.events) > room {
			batch = append(batch, m.events[:room]...)
			rest := m
			rest.events = m.events[room:]
			p.carry = &rest
			return true
		}
		if batch == nil && (!m.more || len(m.events) >= limit) {
			batch = m.events // the common case when caught up: no copy
		} else {
			if batch == nil {
				batch = make([]delivery, 0, limit)
			}
			batch = append(batch, m.events...)
		}
		if mark.Before(m.mark) {
			mark = m.mark
		}
		more = m.more
		return len(batch) >= limit
	}
	if add(first) {
		return batch, mark
	}
	var (
		gap      *time.Timer
		deadline <-chan time.Time
	)
	defer func() {
		if gap != nil {
			gap.Stop()
		}
	}()
	for {
		if p.stopRequested() {
			return batch, mark
		}
		var m message
		if !more {
			select {
			case m = <-p.in:
			default:
				return batch, mark
			}
		} else {
			if gap == nil {
				gap = time.NewTimer(lingerGap)
				deadline = time.After(p.g.sub.BatchMaxDuration / 5)
			} else {
				gap.Reset(lingerGap)
			}
			select {
			case m = <-p.in:
			case <-gap.C:
				return batch, mark
			case <-deadline:
				return batch, mark
			case <-p.stopping:
				return batch, mark
			case <-p.work.Done():
				return batch, mark
			}
		}
		if p.stopRequested() {
			return batch, mark
		}
		if add(m) {
			return batch, mark
		}
	}
}

// lingerGap is how long a partition gathering a batch during catch-up
// waits for the reader's next message.
const lingerGap = 5 * time.Millisecond

// finish flushes what at-least-once handled before a graceful stop, whatever
// the partition was doing (handling, waiting for a retry, halted).
func (p *partition) finish() {
	switch {
	case p.g.sub.Mode == AtLeastOnce && p.flushDue(true):
		_ = p.flush()
	case p.g.sub.Mode == Transactional:
		_ = p.commitMark(p.pending, true) // a mark still waiting for the flush tick
	}
}

// loadBlockedKeys reads the partition's dead-lettered keys, once per claim,
// retrying while the database is away. It reports false if the partition
// must stop.
func (p *partition) loadBlockedKeys() bool {
	return p.retryInfra("load dead-lettered keys", p.readBlocked) == nil
}

func (p *partition) readBlocked() error {
	keys, err := p.g.store().BlockedKeys(p.work, p.g.sub.Name, p.lease.Partition)
	if err == nil {
		p.blocked = keys
		p.blockedCount.Store(int64(len(keys)))
	}
	return err
}

// retryInfra runs op until it succeeds, backing off on errors (a database
// restart, a network blip). It returns errStop when the partition must stop
// (aborted, or the error is ErrFenced).
func (p *partition) retryInfra(what string, op func() error) error {
	b := infraBackoff()
	for {
		err := op()
		if err == nil {
			return nil
		}
		if errors.Is(err, checkpoint.ErrFenced) {
			p.g.warn("causeway: partition fenced: another member owns it now", "partition", p.lease.Partition, "epoch", p.lease.Epoch)
			p.lose(reasonFenced)
			return errStop
		}
		if p.work.Err() != nil {
			return errStop
		}
		wait, _ := b.Next()
		p.g.warn("causeway: "+what+" failed; retrying", "partition", p.lease.Partition, "err", err, "retry_in", wait)
		if !sleep(p.work, wait) {
			return errStop
		}
	}
}

func (p *partition) hookCommitted(pos eventlog.Position, n int) {
	p.committed = pos
	if h := p.g.w.cfg.Hooks.Committed; h != nil {
		h(p.g.sub.Name, p.lease.Partition, pos, n)
	}
}

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
type partition struct {
	g     *group
	lease checkpoint.Lease
	in    chan message
	// carry is the rest of a message that did not fit in the last batch;
	// only the partition's goroutine touches it.
	carry *message

	// dispatched is the reader's own bookkeeping: the last position handed
	// over (only the reader goroutine touches it).
	dispatched eventlog.Position

	// stopping asks the loop to finish its in-flight batch and exit; work
	// is cancelled (abort) for a hard stop: lost lease, shutdown deadline.
	stopping chan struct{}
	stopOnce sync.Once
	work     context.Context
	abort    context.CancelFunc
	done     chan struct{}
	lost     atomic.Bool // the lease is gone: never release or commit
	finished atomic.Bool

	committed eventlog.Position // last committed checkpoint
	pending   eventlog.Position // at-least-once: handled but not flushed; transactional: a mark not committed yet
	unflushed int
	lastFlush time.Time
	blocked   map[string]bool // keys with dead letters
	state     atomic.Value    // string, see LocalPartitionStatus
	handled   atomic.Int64
}

func newPartition(g *group, l checkpoint.Lease) *partition {
	work, abort := context.WithCancel(context.Background())
	p := &partition{
		g:          g,
		lease:      l,
		in:         make(chan message, g.w.cfg.PartitionBuffer),
		dispatched: l.Checkpoint,
		stopping:   make(chan struct{}),
		work:       work,
		abort:      abort,
		done:       make(chan struct{}),
		committed:  l.Checkpoint,
		pending:    l.Checkpoint,
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
	stateStopped  = "stopped"
)

func (p *partition) stop()        { p.stopOnce.Do(func() { close(p.stopping) }) }
func (p *partition) isDone() bool { return p.finished.Load() }

// send hands a message to the partition; with block false it gives up when
// the buffer is full. It reports whether the message was taken.
func (p *partition) send(ctx context.Context, m message, block bool) bool {
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
	defer func() {
		p.state.Store(stateStopped)
		p.finished.Store(true)
		p.abort()
		close(p.done)
		if p.lost.Load() {
			p.g.removePartition(p, "fenced")
		}
	}()
	if !p.loadBlockedKeys() {
		return
	}
	p.state.Store(stateRunning)
	sub := p.g.sub
	retryPoll := time.NewTicker(p.g.w.cfg.RetryPollInterval)
	defer retryPoll.Stop()
	flush := time.NewTicker(sub.FlushInterval)
	defer flush.Stop()
	for {
		var msg message
		// The rest of the last message goes first, unless the partition
		// must stop: then the select below returns at once.
		if p.carry != nil && !p.stopRequested() {
			msg, p.carry = *p.carry, nil
		} else {
			select {
			case <-p.stopping:
				p.finish()
				return
			case <-p.work.Done():
				return
			case <-retryPoll.C:
				if len(p.blocked) > 0 && p.retryDeadLetters() != nil {
					p.finish()
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
			// Fenced or aborted: nothing more may be committed.
			return
		}
	}
}

// stopRequested reports, without waiting, whether the partition must stop.
func (p *partition) stopRequested() bool {
	select {
	case <-p.stopping:
		return true
	case <-p.work.Done():
		return true
	default:
		return false
	}
}

// gather builds a batch of at most BatchSize events from first and what
// else is waiting, for bigger transactions; what does not fit is carried
// over to the next batch. While the reader is catching up (message.more),
// it also waits for the messages that follow, as long as each comes within
// lingerGap and the whole wait stays under a fifth of BatchMaxDuration:
// with many partitions each read hands every partition only a slice of a
// read batch, and a transaction per slice would cost more than the
// handlers. Nothing is held while waiting (no transaction is open yet), and
// a caught-up reader's events go straight through.
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
		batch = append(batch, m.events...)
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
		if add(m) {
			return batch, mark
		}
	}
}

// lingerGap is how long a partition gathering a batch during catch-up
// waits for the reader's next message.
const lingerGap = 5 * time.Millisecond

// finish flushes what at-least-once handled before a graceful stop.
func (p *partition) finish() {
	if p.g.sub.Mode == AtLeastOnce && p.flushDue(true) {
		_ = p.flush()
	}
}

// loadBlockedKeys reads the partition's dead-lettered keys, retrying while
// the database is away. It reports false if the partition must stop.
func (p *partition) loadBlockedKeys() bool {
	return p.retryInfra("load dead-lettered keys", p.readBlocked) == nil
}

func (p *partition) readBlocked() error {
	keys, err := p.g.store().BlockedKeys(p.work, p.g.sub.Name, p.lease.Partition)
	if err == nil {
		p.blocked = keys
	}
	return err
}

// retryInfra runs op until it succeeds, backing off on errors (a database
// restart, a network blip). It returns errStop when the partition must stop
// (aborted, or the error is ErrFenced).
func (p *partition) retryInfra(what string, op func() error) error {
	backoff := 50 * time.Millisecond
	for {
		err := op()
		if err == nil {
			return nil
		}
		if errors.Is(err, checkpoint.ErrFenced) {
			p.lost.Store(true)
			p.g.warn("causeway: partition fenced: another member owns it now", "partition", p.lease.Partition, "epoch", p.lease.Epoch)
			return errStop
		}
		if p.work.Err() != nil {
			return errStop
		}
		p.g.warn("causeway: "+what+" failed; retrying", "partition", p.lease.Partition, "err", err, "retry_in", backoff)
		if !sleep(p.work, backoff) {
			return errStop
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (p *partition) hookCommitted(pos eventlog.Position, n int) {
	p.committed = pos
	if h := p.g.w.cfg.Hooks.Committed; h != nil {
		h(p.g.sub.Name, p.lease.Partition, pos, n)
	}
}

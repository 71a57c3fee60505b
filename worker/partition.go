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
	pending   eventlog.Position // at-least-once: handled but not flushed
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
			continue
		case msg = <-p.in:
		}
		// Take what else is waiting, up to a batch, for bigger transactions.
		batch, mark := msg.events, msg.mark
	gather:
		for len(batch) < sub.BatchSize {
			select {
			case m := <-p.in:
				batch = append(batch, m.events...)
				if mark.Before(m.mark) {
					mark = m.mark
				}
			default:
				break gather
			}
		}
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

package queue

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// maxAckBatch bounds one AckMany.
const maxAckBatch = 1000

// acker coalesces the acks of every consumer of a Runner into AckMany
// calls: it flushes whatever is pending as soon as the previous flush
// returns, so acks batch under load and go out at once when idle.
type acker struct {
	r    *Runner
	ctx  context.Context // the settle context
	in   chan ack
	stop chan struct{} // closed by close: flush what is left and return
	done chan struct{} // closed when run returns
}

type ack struct {
	receipt Receipt
	queue   string
	id      uuid.UUID
	attempt int
	took    time.Duration // the handler's running time
}

func newAcker(r *Runner, ctx context.Context) *acker {
	n := 0
	for _, c := range r.consumers {
		n += c.concurrency
	}
	return &acker{r: r, ctx: ctx, in: make(chan ack, max(2*n, 64)), stop: make(chan struct{}), done: make(chan struct{})}
}

// add queues an ack. It blocks only while the buffer is full (the store is
// slower than the handlers), and never after the acker has returned.
func (a *acker) add(x ack) {
	select {
	case a.in <- x:
	case <-a.done:
		a.r.handled(x.queue, Stale, x.took) // not acked: it comes back
	}
}

func (a *acker) run() {
	defer close(a.done)
	batch := make([]ack, 0, 64)
	for {
		select {
		case x := <-a.in:
			batch = append(batch, x)
		case <-a.stop:
			// Every consumer has returned: nothing more comes in.
			for {
				select {
				case x := <-a.in:
					batch = append(batch, x)
					if len(batch) == maxAckBatch {
						a.flush(batch)
						batch = batch[:0]
					}
				default:
					a.flush(batch)
					return
				}
			}
		}
	fill:
		for len(batch) < maxAckBatch {
			select {
			case x := <-a.in:
				batch = append(batch, x)
			default:
				break fill
			}
		}
		a.flush(batch)
		batch = batch[:0]
	}
}

func (a *acker) flush(batch []ack) {
	if len(batch) == 0 {
		return
	}
	rs := make([]Receipt, len(batch))
	for i, x := range batch {
		rs[i] = x.receipt
	}
	var stale []Receipt
	err := a.r.retrying(a.ctx, "ack", []any{"messages", len(rs)}, func(ctx context.Context) error {
		var err error
		stale, err = a.r.store.AckMany(ctx, rs)
		return err
	})
	if err != nil && !errors.Is(err, ErrStaleReceipt) {
		// The stop's deadline passed with the store unreachable: these
		// messages come back when their visibility runs out.
		a.r.cfg.Logger.Error("causeway: queue: acks lost at stop; the messages will be delivered again", "messages", len(rs), "err", err)
		for _, x := range batch {
			a.r.handled(x.queue, Stale, x.took)
		}
		return
	}
	a.settled(batch, stale)
}

// settled reports the outcome of a batch of acks the store took, stale
// the receipts it found stale.
func (a *acker) settled(batch []ack, stale []Receipt) {
	var isStale map[Receipt]bool
	if len(stale) > 0 {
		isStale = make(map[Receipt]bool, len(stale))
	}
	for _, r := range stale {
		isStale[r] = true
	}
	for _, x := range batch {
		if isStale[x.receipt] {
			a.r.cfg.Logger.Warn("causeway: queue: handled, but the visibility had run out and the message went to another consumer",
				"queue", x.queue, "message_id", x.id, "attempt", x.attempt)
			a.r.handled(x.queue, Stale, x.took)
		} else {
			a.r.handled(x.queue, Acked, x.took)
		}
	}
}

// close flushes what is pending and waits for the acker to return.
func (a *acker) close() {
	close(a.stop)
	<-a.done
}

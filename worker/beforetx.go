package worker

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
)

// BeforeTxFunc runs at the start of each transaction in which a
// transactional subscription's handlers run. It may return a derived
// context: the deliveries of that transaction get it.
type BeforeTxFunc func(ctx context.Context, tx pgx.Tx) (context.Context, error)

// BeforeTx runs fn at the start of every transaction of a transactional
// subscription that delivers events (a batch, a lone retry, a dead letter's
// re-delivery): once per transaction, not per event. A versioned
// projection's build uses it to point search_path at its own schema and to
// read its state in the same round trip. An error from fn rolls the
// transaction back and is retried like a database outage. With the memory
// checkpoint store (no transaction) fn is not called.
func BeforeTx(fn BeforeTxFunc) SubscriptionOption {
	return func(s *Subscription) { s.s.BeforeTx = fn }
}

// beginDelivery begins a unit of work whose handlers will run in it, and
// runs the subscription's BeforeTx hook; the context is the deliveries'.
func (p *partition) beginDelivery() (checkpoint.Tx, context.Context, error) {
	tx, err := p.g.store().Begin(p.work)
	if err != nil {
		return nil, nil, err
	}
	p.afterCommit.begin(tx)
	ctx := p.work
	if h := p.g.sub.BeforeTx; h != nil && p.g.sub.Mode == Transactional && tx.Pgx() != nil {
		hctx, err := h(ctx, tx.Pgx())
		if err != nil {
			_ = tx.Rollback(p.work)
			return nil, nil, fmt.Errorf("before transaction: %w", err)
		}
		if hctx != nil {
			ctx = hctx
		}
	}
	return tx, ctx, nil
}

package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// notifier sends at most one pg_notify per window, from its own goroutine and
// its own implicit transaction: never inside an append, because NOTIFY takes
// a cluster-wide lock at commit and would serialise every appender behind it.
type notifier struct {
	pool    *pgxpool.Pool
	channel string
	window  time.Duration
	pending chan struct{}
	stop    context.CancelFunc
	done    chan struct{}
}

func newNotifier(pool *pgxpool.Pool, channel string, window time.Duration) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &notifier{
		pool:    pool,
		channel: channel,
		window:  window,
		pending: make(chan struct{}, 1),
		stop:    cancel,
		done:    make(chan struct{}),
	}
	go n.run(ctx)
	return n
}

// hint records that a notification is due; hints arriving while one is
// pending or within the window coalesce into it.
func (n *notifier) hint() {
	select {
	case n.pending <- struct{}{}:
	default:
	}
}

func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.pending:
		}
		if _, err := n.pool.Exec(ctx, `SELECT pg_notify($1, '')`, n.channel); err != nil && ctx.Err() == nil {
			// Only a latency hint: pollers pick the events up anyway.
			slog.Debug("causeway: notify failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.window):
		}
	}
}

func (n *notifier) close() {
	n.stop()
	<-n.done
}

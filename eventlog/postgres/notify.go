package postgres

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// notifier sends at most one pg_notify per window. NOTIFY takes a
// cluster-wide lock at commit, so a transaction that notifies commits alone;
// one per window keeps that off every other appender's path.
//
// The notification rides in an append's own transaction when the window
// allows (tryCarry): the append's commit then wakes listeners with no
// transaction of its own, the cost that made appends with notifications
// about a seventh slower than without. Appends committed while the window
// was closed ask for one (hint); the next append transaction to start after
// the window carries it, since it commits after theirs and a listener woken
// by it sees them too. A hint nobody carried within the window is sent by
// the notifier's goroutine in a transaction of its own, as before.
type notifier struct {
	pool    *pgxpool.Pool
	channel string
	window  time.Duration
	wake    chan struct{}
	stop    context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	pending  bool      // a commit asked for a notification not yet sent or carried
	lastSent time.Time // when the last notification was sent or handed to a transaction
}

func newNotifier(pool *pgxpool.Pool, channel string, window time.Duration) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &notifier{
		pool:    pool,
		channel: channel,
		window:  window,
		wake:    make(chan struct{}, 1),
		stop:    cancel,
		done:    make(chan struct{}),
	}
	go n.run(ctx)
	return n
}

// hint records that a notification is due; hints arriving while one is
// pending or within the window coalesce into it.
func (n *notifier) hint() {
	n.mu.Lock()
	n.pending = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// tryCarry reports whether a transaction about to start should carry the
// notification (pg_notify in its own statement): only when the window
// allows one now. It covers every hint given before it. If that
// transaction fails, its caller hints again, so nothing asked for is lost.
func (n *notifier) tryCarry() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	if now.Sub(n.lastSent) < n.window {
		return false
	}
	n.pending, n.lastSent = false, now
	return true
}

// due reports whether a hint is pending and, if the window is still
// closed, how long until it opens.
func (n *notifier) due() (send bool, wait time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.pending {
		return false, 0
	}
	now := time.Now()
	if w := n.lastSent.Add(n.window).Sub(now); w > 0 {
		return false, w
	}
	n.pending, n.lastSent = false, now
	return true, 0
}

func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-timer.C:
		}
		send, wait := n.due()
		if wait > 0 {
			timer.Reset(wait)
			continue
		}
		if !send {
			continue
		}
		if _, err := n.pool.Exec(ctx, `SELECT pg_notify($1, '')`, n.channel); err != nil && ctx.Err() == nil {
			// Only a latency hint: pollers pick the events up anyway.
			slog.Debug("causeway: notify failed", "err", err)
		}
	}
}

func (n *notifier) close() {
	n.stop()
	<-n.done
}

package postgres

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/pglisten"
)

// DefaultNotifyWindow is the default NOTIFY coalescing window.
const DefaultNotifyWindow = 2 * time.Millisecond

// notify wakes consumers: this process's subscribers directly, other
// processes' through NOTIFY (payload: the queue's name) on the schema's
// channel, and this process's subscribers again from its LISTEN
// connection.
//
// Enqueue does not NOTIFY inside its own transaction: NOTIFY takes a
// cluster-wide lock at commit and would serialise every enqueuer behind it.
// It hands the queue's name to a sender goroutine instead, which sends at
// most one NOTIFY statement per window, after the commit, for all the
// queues named meanwhile. EnqueueTx cannot know when the caller commits,
// so it NOTIFYs in the caller's transaction (delivered at its commit).
type notify struct {
	pool      *pgxpool.Pool
	channel   string
	listenURL string
	window    time.Duration
	logger    *slog.Logger

	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	kick chan struct{} // holds one value: the sender has work

	mu        sync.Mutex
	closed    bool
	sending   bool // the sender runs
	listening bool // the listener runs
	pending   map[string]struct{}
	subs      map[string]map[chan struct{}]struct{}
}

func (n *notify) init(pool *pgxpool.Pool, channel string) {
	n.pool, n.channel = pool, channel
	if n.window <= 0 {
		n.window = DefaultNotifyWindow
	}
	if n.logger == nil {
		n.logger = slog.Default()
	}
	n.ctx, n.stop = context.WithCancel(context.Background())
	n.kick = make(chan struct{}, 1)
	n.pending = map[string]struct{}{}
	n.subs = map[string]map[chan struct{}]struct{}{}
}

// hint says queue may have a message ready: it wakes this process's
// subscribers and has the sender NOTIFY the others. It never blocks.
func (s *Store) hint(queue string) {
	n := &s.n
	n.mu.Lock()
	n.wakeLocked(queue)
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.pending[queue] = struct{}{}
	if !n.sending {
		n.sending = true
		n.wg.Add(1)
		go n.send()
	}
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *notify) send() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kick:
		}
		n.mu.Lock()
		queues := slices.Collect(maps.Keys(n.pending))
		clear(n.pending)
		n.mu.Unlock()
		if len(queues) > 0 {
			_, err := n.pool.Exec(n.ctx, `SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q`, n.channel, queues)
			if err != nil && n.ctx.Err() == nil {
				// Only a latency hint: consumers poll anyway.
				n.logger.Debug("causeway: queue notify failed", "err", err)
			}
		}
		t := time.NewTimer(n.window)
		select {
		case <-n.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Subscribe implements queue.Notifier. The first call opens the store's
// LISTEN connection (see ListenURL).
func (s *Store) Subscribe(queue string) (<-chan struct{}, func()) {
	n := &s.n
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs[queue] == nil {
		n.subs[queue] = map[chan struct{}]struct{}{}
	}
	n.subs[queue][ch] = struct{}{}
	if !n.listening && !n.closed {
		n.listening = true
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			pglisten.Run(n.ctx, pglisten.Config{
				Connect:   pglisten.Dialer(n.pool, n.listenURL),
				Channel:   n.channel,
				OnConnect: n.wakeAll,
				OnNotify:  n.wake,
				Logger:    n.logger,
			})
		}()
	}
	return ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.subs[queue], ch)
	}
}

func (n *notify) wake(queue string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.wakeLocked(queue)
}

func (n *notify) wakeLocked(queue string) {
	for ch := range n.subs[queue] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wakeAll wakes every subscriber: after a (re)connect, since what was
// notified while the connection was down is lost.
func (n *notify) wakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for q := range n.subs {
		n.wakeLocked(q)
	}
}

func (n *notify) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.stop()
	n.wg.Wait()
}

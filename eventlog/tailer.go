package eventlog

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/causewayhq/causeway/internal/backoff"
)

// TailerOptions tunes a Tailer's adaptive polling.
type TailerOptions struct {
	// MinInterval is the poll interval while events flow (default 5 ms).
	MinInterval time.Duration
	// MaxInterval caps the back-off when idle (default 1 s).
	MaxInterval time.Duration
	// Logger receives poll errors (default slog.Default()).
	Logger *slog.Logger
}

// Tailer defaults.
const (
	DefaultTailMinInterval = 5 * time.Millisecond
	DefaultTailMaxInterval = time.Second
)

// HeadFunc returns the position of the last visible event.
type HeadFunc func(ctx context.Context) (Position, error)

// Tailer follows the head of the log for a whole process and wakes the
// process's subscriptions when it moves, so that N subscriptions cost one
// poll, not N. It polls adaptively: every MinInterval while the head moves,
// doubling up to MaxInterval while idle, and at once on Wake (a NOTIFY from
// another process, or an append in this one).
//
// Subscribers get a channel with room for one signal: a wake-up is never lost
// and never blocks the tailer, however slow the subscriber.
type Tailer struct {
	head HeadFunc
	opts TailerOptions
	wake chan struct{}

	mu      sync.Mutex
	current Position
	subs    map[*TailSubscription]struct{}
}

// NewTailer returns a tailer; call Run to start it.
func NewTailer(head HeadFunc, opts TailerOptions) *Tailer {
	if opts.MinInterval <= 0 {
		opts.MinInterval = DefaultTailMinInterval
	}
	if opts.MaxInterval < opts.MinInterval {
		opts.MaxInterval = max(DefaultTailMaxInterval, opts.MinInterval)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Tailer{
		head: head,
		opts: opts,
		wake: make(chan struct{}, 1),
		subs: make(map[*TailSubscription]struct{}),
	}
}

// TailSubscription delivers head-moved signals. C has room for one signal.
type TailSubscription struct {
	C <-chan struct{}
	c chan struct{}
	t *Tailer
}

// Close stops the subscription's signals.
func (s *TailSubscription) Close() {
	s.t.mu.Lock()
	delete(s.t.subs, s)
	s.t.mu.Unlock()
}

// Subscribe registers for signals. The subscription starts signalled, so
// its owner reads once at start without waiting for the next move.
func (t *Tailer) Subscribe() *TailSubscription {
	c := make(chan struct{}, 1)
	c <- struct{}{}
	s := &TailSubscription{C: c, c: c, t: t}
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	return s
}

// Wake makes the tailer poll now. It never blocks.
func (t *Tailer) Wake() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Head returns the last head the tailer saw.
func (t *Tailer) Head() Position {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.current
}

// Run polls until ctx ends.
func (t *Tailer) Run(ctx context.Context) error {
	// After activity it polls every MinInterval; each idle or failed poll
	// doubles that, up to MaxInterval.
	interval := t.opts.MinInterval
	slower := backoff.New(2*t.opts.MinInterval, t.opts.MaxInterval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.wake:
			// Someone appended: the head is about to move even if the
			// horizon hides it for a moment, so poll fast again.
			interval = t.opts.MinInterval
			slower.Reset()
		case <-timer.C:
		}
		moved, err := t.poll(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.opts.Logger.Warn("causeway: tailer poll failed", "err", err)
			interval = slower.Next()
		case moved:
			interval = t.opts.MinInterval
			slower.Reset()
		default:
			interval = slower.Next()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(interval)
	}
}

func (t *Tailer) poll(ctx context.Context) (bool, error) {
	h, err := t.head(ctx)
	if err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.current.Before(h) {
		return false, nil
	}
	t.current = h
	for s := range t.subs {
		select {
		case s.c <- struct{}{}:
		default:
		}
	}
	return true, nil
}

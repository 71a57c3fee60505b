package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/causewayhq/causeway/internal/backoff"
	"github.com/causewayhq/causeway/worker"
)

// Defaults of a RunnerConfig.
const (
	DefaultPollInterval = time.Second
	DefaultStopTimeout  = 10 * time.Second
)

// settleGrace bounds a stop beyond StopTimeout: how long handlers whose
// ctx was cancelled get to return, and the store to take the last acks and
// releases. Past it Run returns anyway; what was not settled comes back
// when its visibility runs out.
const settleGrace = 5 * time.Second

// RunnerConfig configures a Runner. The zero value is usable.
type RunnerConfig struct {
	// Logger receives the runner's logs (default slog.Default()). They
	// name the queue, the message id and the attempt, never the receipt.
	Logger *slog.Logger
	// Clock is the time of retries, visibility extensions, sleeps until
	// a delayed message is due and the poll (default worker.SystemClock).
	// A test on the memory store gives the store's fake clock. Attempt
	// timeouts and the stop timeout stay on real time.
	Clock worker.Clock
	// PollInterval is the longest a consumer sleeps without looking at
	// its queue, for what no notification announced (default
	// DefaultPollInterval).
	PollInterval time.Duration
	// StopTimeout is how long a graceful stop waits for in-flight
	// handlers before cancelling their ctx and releasing their messages
	// (default DefaultStopTimeout).
	StopTimeout time.Duration
	// OnHandled, if set, is called once per delivery when its outcome is
	// known, with the handler's running time (0 when it never ran): the
	// runtime's metrics hook. It must not block.
	OnHandled func(queue string, outcome Outcome, d time.Duration)
}

// Outcome is what became of a delivery.
type Outcome string

const (
	// Acked: the handler succeeded and the ack was taken.
	Acked Outcome = "acked"
	// Retried: the handler failed; the message is nacked for a later
	// attempt.
	Retried Outcome = "retried"
	// Dead: the message went to the dead letters (a permanent error, a
	// payload that did not decode, or the queue's last attempt failed).
	Dead Outcome = "dead"
	// Released: a stop handed the message back unhandled; the attempt is
	// not counted.
	Released Outcome = "released"
	// Stale: the delivery's visibility ran out and another consumer holds
	// the message now; this one's result was dropped.
	Stale Outcome = "stale"
)

// Runner runs push consumers: per consumer, up to its Concurrency handlers
// at once, fed by one dequeue loop. See the package documentation.
type Runner struct {
	store     Store
	cfg       RunnerConfig
	consumers []Consumer
	started   atomic.Bool
}

// NewRunner checks the consumers' declarations and returns a runner of
// them on store.
func NewRunner(store Store, cfg RunnerConfig, consumers ...Consumer) (*Runner, error) {
	if store == nil {
		return nil, errors.New("queue: NewRunner: nil store")
	}
	if len(consumers) == 0 {
		return nil, errors.New("queue: NewRunner: no consumers")
	}
	var errs []error
	seen := map[string]bool{}
	for _, c := range consumers {
		if err := c.Err(); err != nil {
			errs = append(errs, err)
		}
		if seen[c.queue] {
			errs = append(errs, fmt.Errorf("%w %q: two consumers of one queue (raise Concurrency instead)", ErrInvalidConsumer, c.queue))
		}
		seen[c.queue] = true
	}
	if cfg.PollInterval < 0 || cfg.StopTimeout < 0 {
		errs = append(errs, errors.New("queue: NewRunner: negative PollInterval or StopTimeout"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = worker.SystemClock
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	return &Runner{store: store, cfg: cfg, consumers: consumers}, nil
}

// Run runs the consumers until ctx ends, then stops gracefully: no more
// dequeues; in-flight handlers get StopTimeout to finish, then their ctx
// is cancelled and their messages are released (not counted as an
// attempt); pending acks are flushed. It returns once every in-flight
// message is settled (or, if handlers ignore their cancelled ctx or the
// database is gone, settleGrace later), with ctx's error. Database outages
// are retried, not returned; a consumer's queue that is not declared when
// Run starts is an error (ErrUnknownQueue). Run may be called once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("queue: Runner.Run called twice")
	}
	runs := make([]*consumerRun, len(r.consumers))
	for i, c := range r.consumers {
		vis, err := r.visibility(ctx, c)
		if err != nil {
			return err
		}
		if vis == 0 {
			return ctx.Err() // stopped while starting
		}
		runs[i] = &consumerRun{r: r, c: c, vis: vis}
	}

	// Settling (acks, nacks, releases, extensions, and the dequeue in
	// flight) outlives ctx, so that a stop does not strand messages; it
	// ends at the stop's hard deadline.
	settleCtx, cancelSettle := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSettle()
	stopSettle := context.AfterFunc(ctx, func() {
		time.AfterFunc(r.cfg.StopTimeout+settleGrace, cancelSettle)
	})
	defer stopSettle()

	a := newAcker(r, settleCtx)
	go a.run()
	var (
		wg        sync.WaitGroup
		abandoned atomic.Int64
	)
	for _, c := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			abandoned.Add(int64(c.run(ctx, settleCtx, a)))
		}()
	}
	wg.Wait()
	a.close()
	if n := abandoned.Load(); n > 0 {
		return fmt.Errorf("queue: stop: %d handlers did not return after their ctx was cancelled; their messages come back when their visibility runs out", n)
	}
	return ctx.Err()
}

// visibility is the visibility a consumer's deliveries get: its own, else
// its queue's. 0 means ctx ended first.
func (r *Runner) visibility(ctx context.Context, c Consumer) (time.Duration, error) {
	b := backoff.New(50*time.Millisecond, 5*time.Second)
	for {
		cfg, err := r.store.Queue(ctx, c.queue)
		switch {
		case err == nil && c.visibility > 0:
			return c.visibility, nil
		case err == nil:
			return cfg.VisibilityTimeout, nil
		case errors.Is(err, ErrUnknownQueue):
			return 0, fmt.Errorf("queue: consumer of %q: %w", c.queue, err)
		case ctx.Err() != nil:
			return 0, nil
		}
		wait := b.Next()
		r.cfg.Logger.Warn("causeway: queue consumer cannot read its queue; retrying", "queue", c.queue, "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return 0, nil
		}
	}
}

func (r *Runner) handled(queue string, o Outcome, d time.Duration) {
	if r.cfg.OnHandled != nil {
		r.cfg.OnHandled(queue, o, d)
	}
}

// sleep waits d of real time; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retrying runs a settling operation until it succeeds, reports a stale
// receipt, or ctx ends: a database outage must not turn a handled message
// into a redelivery when the database is back within the visibility.
func (r *Runner) retrying(ctx context.Context, op string, attrs []any, f func(context.Context) error) error {
	b := backoff.New(50*time.Millisecond, 2*time.Second)
	for {
		err := f(ctx)
		if err == nil || errors.Is(err, ErrStaleReceipt) || ctx.Err() != nil {
			return err
		}
		wait := b.Next()
		r.cfg.Logger.Warn("causeway: queue: "+op+" failed; retrying", append(attrs, "err", err, "retry_in", wait)...)
		if !sleep(ctx, wait) {
			return err
		}
	}
}

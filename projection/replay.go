package projection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/internal/progress"
	"github.com/causewayhq/causeway/worker"
)

// ReplayConfig configures Replay.
type ReplayConfig struct {
	Projection *Projection
	Log        worker.Log
	// Checkpoints is any checkpoint store (see Reset for what differs
	// between the PostgreSQL store and the others).
	Checkpoints checkpoint.Store
	// CatchUp runs the projection in this process until it has caught up
	// with the head as of the reset. Without it, Replay only resets:
	// running workers pick the projection up from the start by themselves.
	CatchUp bool
	// Effects, if set, is where the catch-up worker's handlers' Emit and
	// Enqueue go (live, as in the runners; see SubscriptionWith). Without
	// it they fail with ErrNoEffects.
	Effects *EffectsEnv
	// Worker tunes the catch-up worker (Log and Checkpoints are set for you).
	Worker worker.Config
	// Progress receives progress: a live bar on a terminal, lines otherwise.
	Progress io.Writer
	Logger   *slog.Logger
}

// ReplayResult reports a replay.
type ReplayResult struct {
	// Events is how many events the projection had to go through again (at
	// the time of the reset).
	Events   int64
	Duration time.Duration
}

// txResetter is a checkpoint store that resets within the caller's
// PostgreSQL transaction (checkpoint.PostgresStore).
type txResetter interface {
	Pool() *pgxpool.Pool
	ResetTx(ctx context.Context, tx pgx.Tx, sub string) error
}

// Reset empties one projection for a rebuild: the reset hook, the
// checkpoints back to the start with every epoch bumped (which fences
// running workers of this projection), and its dead letters deleted. Other
// subscriptions are untouched.
//
// With the PostgreSQL checkpoint store all of it is one transaction, which
// the reset hook writes in, and deadlocks with running workers are
// retried. With another store (the memory one, in tests) the hook gets a
// nil transaction, as handlers do there, and runs before the store's
// Reset.
func Reset(ctx context.Context, p *Projection, cps checkpoint.Store) error {
	if err := p.Err(); err != nil {
		return err
	}
	if p.Versioned() {
		return fmt.Errorf("projection %s: %w", p.name, ErrVersioned)
	}
	pg, ok := cps.(txResetter)
	if !ok {
		if p.reset != nil {
			if err := p.reset(ctx, nil); err != nil {
				return fmt.Errorf("projection %s: reset hook: %w", p.name, err)
			}
		}
		if err := cps.Reset(ctx, p.name); err != nil && !errors.Is(err, checkpoint.ErrNotFound) {
			return fmt.Errorf("projection %s: reset: %w", p.name, err)
		}
		return nil
	}
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, pg.Pool(), func(tx pgx.Tx) error {
			// The read model first: its locks wait for in-flight batches to
			// finish; moving the checkpoints then fences anything later.
			if p.reset != nil {
				if err := p.reset(ctx, tx); err != nil {
					return fmt.Errorf("reset hook: %w", err)
				}
			}
			err := pg.ResetTx(ctx, tx, p.name)
			if errors.Is(err, checkpoint.ErrNotFound) {
				return nil // never ran: nothing to move back
			}
			return err
		})
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") && attempt < 5 {
			continue
		}
		if err != nil {
			return fmt.Errorf("projection %s: reset: %w", p.name, err)
		}
		return nil
	}
}

// Replay rebuilds a projection: Reset, then (with CatchUp) run it here until
// it reaches the head as of the reset, reporting progress.
func Replay(ctx context.Context, cfg ReplayConfig) (ReplayResult, error) {
	p := cfg.Projection
	if p == nil || cfg.Log == nil || cfg.Checkpoints == nil {
		return ReplayResult{}, errors.New("projection: Replay needs Projection, Log and Checkpoints")
	}
	sub, err := p.Subscription()
	if cfg.Effects != nil {
		sub, err = p.SubscriptionWith(*cfg.Effects)
	}
	if err != nil {
		return ReplayResult{}, err
	}
	start := time.Now()
	if err := Reset(ctx, p, cfg.Checkpoints); err != nil {
		return ReplayResult{}, err
	}
	target, err := cfg.Log.Head(ctx)
	if err != nil {
		return ReplayResult{}, err
	}
	from := eventlog.Start
	if stored, err := cfg.Checkpoints.Subscription(ctx, p.name); err == nil {
		from = stored.StartAt
	}
	total, err := cfg.Log.CountBetween(ctx, from, target, sub.Filter())
	if err != nil {
		return ReplayResult{}, err
	}
	res := ReplayResult{Events: total}
	if !cfg.CatchUp {
		res.Duration = time.Since(start)
		return res, nil
	}

	bar := progress.New(cfg.Progress, "replay "+p.name, total)
	var done atomic.Int64
	wcfg := cfg.Worker
	wcfg.Log, wcfg.Checkpoints = cfg.Log, cfg.Checkpoints
	if wcfg.Logger == nil {
		wcfg.Logger = cfg.Logger
	}
	committed := wcfg.Hooks.Committed
	// finished wakes the loop below as soon as this process has handled as
	// many events as there were, rather than at its next tick.
	finished := make(chan struct{}, 1)
	wcfg.Hooks.Committed = func(s string, part int, pos eventlog.Position, n int) {
		if s == p.name && done.Add(int64(n)) >= total {
			select {
			case finished <- struct{}{}:
			default:
			}
		}
		if committed != nil {
			committed(s, part, pos, n)
		}
	}
	w, err := worker.New(wcfg, sub)
	if err != nil {
		return res, err
	}
	wctx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(wctx) }()
	defer func() { stop(); <-runErr }()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var (
		lastCheck time.Time
		lastSeen  int64 = -1
	)
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case err := <-runErr:
			runErr <- err
			return res, fmt.Errorf("projection %s: replay worker stopped: %w", p.name, err)
		case <-tick.C:
		case <-finished:
		}
		slowest, err := slowestCheckpoint(ctx, cfg.Checkpoints, p.name)
		if err != nil {
			continue // transient; the worker retries too
		}
		d := done.Load()
		caughtUp := !slowest.Before(target)
		// Counting is a scan of the rest of the log: do it when this
		// process's own count says it should be over, or when that count has
		// not moved for 2 s (other runners may share the work, or an idle
		// partition's checkpoint may lag behind the target). While this
		// process makes progress, its own count is the progress shown.
		count := d >= total
		if !caughtUp && !count && time.Since(lastCheck) >= 2*time.Second {
			count = d == lastSeen
			lastCheck, lastSeen = time.Now(), d
		}
		if !caughtUp && count {
			behind, err := cfg.Log.CountBetween(ctx, slowest, target, sub.Filter())
			if err == nil {
				caughtUp = behind == 0
				d = max(d, total-behind)
			}
		}
		if caughtUp {
			bar.Done(total)
			res.Duration = time.Since(start)
			return res, nil
		}
		bar.Update(min(d, total))
	}
}

// slowestCheckpoint is the lowest checkpoint among the partitions.
func slowestCheckpoint(ctx context.Context, cps checkpoint.Store, name string) (eventlog.Position, error) {
	parts, err := cps.Partitions(ctx, name)
	if err != nil {
		return eventlog.Start, err
	}
	if len(parts) == 0 {
		return eventlog.Start, errors.New("not registered yet")
	}
	slowest := parts[0].Checkpoint
	for _, ps := range parts[1:] {
		if ps.Checkpoint.Before(slowest) {
			slowest = ps.Checkpoint
		}
	}
	return slowest, nil
}

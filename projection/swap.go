package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/eventlog"
)

// trySwap switches readers from the live build to the building one once it
// has caught up (its lag under SwapMaxLag), in the caller's transaction,
// which holds the projection's lock and its builds' rows:
//
//  1. the live build's partitions are locked and fenced (epochs bumped,
//     leases freed): from here on it is frozen at its checkpoints;
//  2. wait (at most SwapWait) until the new build's slowest checkpoint has
//     reached the frozen build's fastest one, so the new read model holds
//     at least every event the old one did — else give up until a later
//     tick, rolled back;
//  3. the new build's partitions are locked and fenced too: a batch in
//     flight that began while the build was still building (effects held
//     back) rolls back and runs again as live;
//  4. its held-back effects after the old build's slowest checkpoint are
//     released, the live schema's views re-created on its tables, and the
//     states moved (old retired, to be dropped after the grace period).
//
// Readers of the views thus see the old build, then the new one, never
// fewer rows than before and never a mix. While step 2 waits the old build
// does not move: its readers see it standing still for at most SwapWait.
func (b *Builds) trySwap(ctx context.Context, tx pgx.Tx, p *Projection, live, next Build) error {
	cps, err := b.checkpoints(ctx, next.Subscription)
	if err != nil || len(cps) == 0 {
		return err
	}
	if liveCps, err := b.checkpoints(ctx, live.Subscription); err == nil && len(liveCps) > 0 {
		if _, err := pruneEffects(ctx, tx, b, next.Subscription, slowestOf(liveCps), live.Subscription); err != nil {
			return fmt.Errorf("prune effects: %w", err)
		}
	}
	slowest := slowestOf(cps)
	if slowest.Before(next.Target) {
		return nil // still on the way to where it started from
	}
	head, err := b.cfg.Log.Head(ctx)
	if err != nil {
		return err
	}
	lag, err := b.cfg.Log.CountBetween(ctx, slowest, head, p.Filter())
	if err != nil || lag > b.cfg.SwapMaxLag {
		return err
	}
	sp, err := tx.Begin(ctx) // a savepoint: a switch that cannot finish now leaves nothing behind
	if err != nil {
		return err
	}
	defer sp.Rollback(ctx)
	old, err := b.cfg.Checkpoints.FenceTx(ctx, sp, live.Subscription)
	if err != nil {
		return err
	}
	oldFastest, oldSlowest := eventlog.Start, eventlog.Start
	if len(old) > 0 {
		oldFastest, oldSlowest = fastestOf(old), slowestOf(old)
	}
	ok, err := b.waitPassed(ctx, sp, next.Subscription, oldFastest)
	if err != nil || !ok {
		if err == nil {
			b.cfg.Logger.Debug("causeway: switch postponed: the new build has not passed the live one yet",
				"projection", p.name, "build", next.Build)
		}
		return err
	}
	fenced, err := b.cfg.Checkpoints.FenceTx(ctx, sp, next.Subscription)
	if err != nil {
		return err
	}
	if len(fenced) == 0 || slowestOf(fenced).Before(oldFastest) {
		return fmt.Errorf("projection %s: build %d moved back during the switch", p.name, next.Build)
	}
	released, err := releaseEffects(ctx, sp, b, next.Subscription, oldSlowest, live.Subscription)
	if err != nil {
		return fmt.Errorf("release effects: %w", err)
	}
	// Dropping a view waits for its readers; a long one must not stall the
	// switch, nor the readers queued behind it: give up and retry later.
	if _, err := sp.Exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
		return err
	}
	if err := replaceViews(ctx, sp, next.LiveSchema, next.Schema); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" {
			b.cfg.Logger.Warn("causeway: switch postponed: a reader of the live views held them too long", "projection", p.name, "err", err)
			return nil
		}
		return err
	}
	if _, err := sp.Exec(ctx, `UPDATE `+b.table()+` SET state = 'retired', retired_at = now(), drop_after = now() + $3::interval
		WHERE projection = $1 AND build = $2`, live.Projection, live.Build, fmt.Sprintf("%d microseconds", b.cfg.Grace.Microseconds())); err != nil {
		return err
	}
	if _, err := sp.Exec(ctx, `UPDATE `+b.table()+` SET state = 'live', live_at = now(), done_events = total_events, sampled_at = now()
		WHERE projection = $1 AND build = $2`, next.Projection, next.Build); err != nil {
		return err
	}
	if b.beforeSwitchCommit != nil {
		b.beforeSwitchCommit(ctx)
	}
	if err := sp.Commit(ctx); err != nil {
		return err
	}
	b.cfg.Logger.Info("causeway: projection switched to its new build", "projection", p.name, "build", next.Build,
		"version", next.Version, "retired_build", live.Build, "drop_after", b.cfg.Grace, "effects_released", released)
	return nil
}

// waitPassed polls, in tx, until every partition of sub stands at or past
// pos, for at most SwapWait. Each statement of a READ COMMITTED transaction
// sees what committed before it, so the new build's commits show.
func (b *Builds) waitPassed(ctx context.Context, tx pgx.Tx, sub string, pos eventlog.Position) (bool, error) {
	parts := pgx.Identifier{b.cfg.Schema, "partitions"}.Sanitize()
	deadline := time.Now().Add(b.cfg.SwapWait)
	for {
		var behind, n int
		err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE (tx_id, position) < ($2::xid8, $3::bigint)), count(*)
			FROM `+parts+` WHERE subscription = $1`, sub, pos.TxID, pos.Seq).Scan(&behind, &n)
		if err != nil {
			return false, err
		}
		if n > 0 && behind == 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

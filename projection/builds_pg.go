package projection

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/worker"
)

const buildColumns = `projection, build, version, subscription, schema_name, live_schema, state, requested_by, requested_at,
	coalesce(live_at, 'epoch'), coalesce(retired_at, 'epoch'), coalesce(drop_after, 'epoch'), coalesce(dropped_at, 'epoch'),
	target_tx, target_pos, total_events, done_events, rate, coalesce(sampled_at, 'epoch')`

func scanBuild(r pgx.CollectableRow) (Build, error) {
	var b Build
	var state string
	err := r.Scan(&b.Projection, &b.Build, &b.Version, &b.Subscription, &b.Schema, &b.LiveSchema, &state, &b.RequestedBy,
		&b.RequestedAt, &b.LiveAt, &b.RetiredAt, &b.DropAfter, &b.DroppedAt,
		&b.Target.TxID, &b.Target.Seq, &b.Total, &b.Done, &b.Rate, &b.SampledAt)
	b.State = BuildState(state)
	for _, t := range []*time.Time{&b.LiveAt, &b.RetiredAt, &b.DropAfter, &b.DroppedAt, &b.SampledAt} {
		if t.Unix() == 0 {
			*t = time.Time{}
		}
	}
	return b, err
}

func (b *Builds) table() string { return pgx.Identifier{b.cfg.Schema, "projection_builds"}.Sanitize() }

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (b *Builds) listWith(ctx context.Context, q querier, name string, lock bool) ([]Build, error) {
	sql := `SELECT ` + buildColumns + ` FROM ` + b.table() + ` WHERE projection = $1 OR $1 = '' ORDER BY projection, build`
	if lock {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, name)
	if err != nil {
		return nil, fmt.Errorf("projection builds: %w", err)
	}
	bs, err := pgx.CollectRows(rows, scanBuild)
	if err != nil {
		return nil, fmt.Errorf("projection builds: %w", err)
	}
	return bs, nil
}

func (b *Builds) list(ctx context.Context, name string) ([]Build, error) {
	return b.listWith(ctx, b.cfg.Pool, name, false)
}

// List returns the builds of a projection ("" = of every projection), in
// order, with their progress.
func (b *Builds) List(ctx context.Context, name string) ([]Build, error) {
	return b.list(ctx, name)
}

// lockKey is the advisory lock of one projection's builds.
func (b *Builds) lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("causeway-projection-builds:" + b.cfg.Schema + ":" + name))
	return int64(h.Sum64())
}

// locked runs fn in a transaction holding the projection's lock and its
// builds' rows. With try, it returns (false, nil) at once when another
// process holds the lock.
func (b *Builds) locked(ctx context.Context, name string, try bool, fn func(tx pgx.Tx, builds []Build) error) (bool, error) {
	acted := false
	err := pgx.BeginFunc(ctx, b.cfg.Pool, func(tx pgx.Tx) error {
		if try {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, b.lockKey(name)).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return nil
			}
		} else if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, b.lockKey(name)); err != nil {
			return err
		}
		acted = true
		builds, err := b.listWith(ctx, tx, name, true)
		if err != nil {
			return err
		}
		return fn(tx, builds)
	})
	return acted, err
}

func find(builds []Build, state BuildState) (Build, bool) {
	for _, bl := range builds {
		if bl.State == state {
			return bl, true
		}
	}
	return Build{}, false
}

func nextBuild(builds []Build) int {
	n := 1
	for _, bl := range builds {
		n = max(n, bl.Build+1)
	}
	return n
}

// manage does what one projection needs now: its first build, a build of
// a new code version, progress, the switch, drops past the grace period.
func (b *Builds) manage(ctx context.Context, p *Projection) error {
	_, err := b.locked(ctx, p.name, true, func(tx pgx.Tx, builds []Build) error {
		live, hasLive := find(builds, BuildLive)
		building, hasBuilding := find(builds, BuildBuilding)
		switch {
		case !hasLive && !hasBuilding:
			// Nothing to serve yet: the first build is live at once (its
			// views show it while it catches up).
			_, err := b.create(ctx, tx, p, nextBuild(builds), BuildLive, "first build: "+b.cfg.By)
			return err
		case hasLive && live.Version > p.version:
			return nil // an older runner: the newer one manages it
		case hasLive && live.Version < p.version && (!hasBuilding || building.Version < p.version):
			if hasBuilding {
				// A build of a version this deployment supersedes: nobody
				// would finish it.
				b.cfg.Logger.Info("causeway: projection build superseded by a newer version", "projection", p.name,
					"build", building.Build, "version", building.Version, "code_version", p.version)
				if err := b.drop(ctx, tx, building, BuildAborted); err != nil {
					return err
				}
			}
			_, err := b.create(ctx, tx, p, nextBuild(builds), BuildBuilding, "deploy: "+b.cfg.By)
			return err
		}
		now := time.Now()
		for _, bl := range builds {
			if bl.State == BuildRetired && !bl.DropAfter.IsZero() && now.After(bl.DropAfter) {
				if err := b.drop(ctx, tx, bl, BuildDropped); err != nil {
					return err
				}
			}
			// A worker that started just before its build was dropped may
			// have registered the subscription again: delete it once more
			// for a while (its runner stops it within a tick).
			if (bl.State == BuildDropped || bl.State == BuildAborted) && now.Sub(bl.DroppedAt) < time.Minute {
				if err := b.cfg.Checkpoints.DeleteTx(ctx, tx, bl.Subscription); err != nil {
					return err
				}
			}
		}
		for _, bl := range []Build{live, building} {
			if bl.Running() && bl.Version == p.version && bl.Done < bl.Total && now.Sub(bl.SampledAt) >= b.cfg.SampleEvery {
				if err := b.sample(ctx, tx, p, bl, now); err != nil {
					return err
				}
			}
		}
		if hasBuilding && hasLive && building.Version == p.version {
			return b.trySwap(ctx, tx, p, live, building)
		}
		return nil
	})
	return err
}

// create makes build n: its schema, the set-up hook run in it, its row;
// a live build gets the live schema's views at once.
func (b *Builds) create(ctx context.Context, tx pgx.Tx, p *Projection, n int, state BuildState, by string) (Build, error) {
	live, err := p.liveSchemaName()
	if err != nil {
		return Build{}, err
	}
	head, err := b.cfg.Log.Head(ctx)
	if err != nil {
		return Build{}, err
	}
	total, err := b.cfg.Log.CountBetween(ctx, eventlog.Start, head, p.Filter())
	if err != nil {
		return Build{}, err
	}
	bl := Build{Projection: p.name, Build: n, Version: p.version, Subscription: checkpoint.BuildName(p.name, n),
		Schema: buildSchema(live, n), LiveSchema: live, State: state, RequestedBy: by, Target: head, Total: total}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{bl.Schema}.Sanitize()); err != nil {
		return Build{}, fmt.Errorf("projection %s: build %d: %w", p.name, n, err)
	}
	if p.setup != nil {
		if err := setSearchPath(ctx, tx, bl.Schema); err != nil {
			return Build{}, err
		}
		if err := p.setup(ctx, tx); err != nil {
			return Build{}, fmt.Errorf("projection %s: build %d: set-up: %w", p.name, n, err)
		}
		if _, err := tx.Exec(ctx, `RESET search_path`); err != nil {
			return Build{}, err
		}
	}
	err = tx.QueryRow(ctx, `INSERT INTO `+b.table()+` (projection, build, version, subscription, schema_name, live_schema, state,
			requested_by, live_at, target_tx, target_pos, total_events)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $7 = 'live' THEN now() END, $9, $10, $11)
		RETURNING requested_at`, bl.Projection, bl.Build, bl.Version, bl.Subscription, bl.Schema, bl.LiveSchema, string(state),
		by, head.TxID, head.Seq, total).Scan(&bl.RequestedAt)
	if err != nil {
		return Build{}, fmt.Errorf("projection %s: build %d: %w", p.name, n, err)
	}
	if state == BuildLive {
		if err := replaceViews(ctx, tx, live, bl.Schema); err != nil {
			return Build{}, err
		}
	}
	b.cfg.Logger.Info("causeway: projection build created", "projection", p.name, "build", n, "version", p.version,
		"state", state, "schema", bl.Schema, "events", total, "by", by)
	return bl, nil
}

// setSearchPath puts schema first on search_path for the rest of tx.
func setSearchPath(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, `SELECT set_config('search_path', $1 || ', ' || current_setting('search_path'), true)`,
		pgx.Identifier{schema}.Sanitize())
	return err
}

// replaceViews makes the live schema show the build's schema: one view per
// table or view of it, every older view of the live schema dropped, in the
// caller's transaction (readers see the old set or the new one).
func replaceViews(ctx context.Context, tx pgx.Tx, live, build string) error {
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{live}.Sanitize()); err != nil {
		return fmt.Errorf("live schema %s: %w", live, err)
	}
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'v' ORDER BY 1`, live)
	if err != nil {
		return err
	}
	old, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, v := range old {
		if _, err := tx.Exec(ctx, `DROP VIEW IF EXISTS `+pgx.Identifier{live, v}.Sanitize()+` CASCADE`); err != nil {
			return fmt.Errorf("live schema %s: drop view %s: %w", live, v, err)
		}
	}
	rows, err = tx.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1`, build)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := tx.Exec(ctx, `CREATE VIEW `+pgx.Identifier{live, t}.Sanitize()+` AS SELECT * FROM `+pgx.Identifier{build, t}.Sanitize()); err != nil {
			return fmt.Errorf("live schema %s: view %s: %w", live, t, err)
		}
	}
	return nil
}

// drop drops a build: its schema, its subscription (checkpoints, dead
// letters) and its held-back effects; the row stays, in state to.
func (b *Builds) drop(ctx context.Context, tx pgx.Tx, bl Build, to BuildState) error {
	if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{bl.Schema}.Sanitize()+` CASCADE`); err != nil {
		return fmt.Errorf("projection %s: drop build %d: %w", bl.Projection, bl.Build, err)
	}
	if err := b.cfg.Checkpoints.DeleteTx(ctx, tx, bl.Subscription); err != nil {
		return err
	}
	if err := dropEffects(ctx, tx, b, bl.Subscription); err != nil {
		return fmt.Errorf("projection %s: drop build %d: effects: %w", bl.Projection, bl.Build, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE `+b.table()+` SET state = $3, dropped_at = now() WHERE projection = $1 AND build = $2`,
		bl.Projection, bl.Build, string(to)); err != nil {
		return err
	}
	b.cfg.Logger.Info("causeway: projection build dropped", "projection", bl.Projection, "build", bl.Build, "state", to)
	return nil
}

// checkpoints returns a build's partitions' checkpoints (none if its
// subscription is not registered yet).
func (b *Builds) checkpoints(ctx context.Context, sub string) ([]eventlog.Position, error) {
	parts, err := b.cfg.Checkpoints.Partitions(ctx, sub)
	if err != nil {
		return nil, err
	}
	out := make([]eventlog.Position, len(parts))
	for i, ps := range parts {
		out[i] = ps.Checkpoint
	}
	return out, nil
}

func slowestOf(ps []eventlog.Position) eventlog.Position {
	s := ps[0]
	for _, p := range ps[1:] {
		if p.Before(s) {
			s = p
		}
	}
	return s
}

func fastestOf(ps []eventlog.Position) eventlog.Position {
	f := ps[0]
	for _, p := range ps[1:] {
		if f.Before(p) {
			f = p
		}
	}
	return f
}

// sample estimates a build's progress towards its target, every
// SampleEvery: the share of the log's positions (a global sequence) its
// slowest checkpoint has passed, times the events it has to go through.
// An estimate, not a count: counting what is left would scan the rest of
// the log (up to millions of index entries) every few seconds, beside the
// build's own reads. The total (counted once, when the build starts) and
// the end are exact.
func (b *Builds) sample(ctx context.Context, tx pgx.Tx, p *Projection, bl Build, now time.Time) error {
	cps, err := b.checkpoints(ctx, bl.Subscription)
	if err != nil || len(cps) == 0 {
		return err
	}
	done := bl.Total
	if slowest := slowestOf(cps); slowest.Before(bl.Target) {
		done = 0
		if bl.Target.Seq > 0 {
			done = int64(float64(bl.Total) * min(float64(slowest.Seq)/float64(bl.Target.Seq), 1))
		}
		done = max(min(done, bl.Total-1), 0) // not done until the checkpoint says so
	}
	rate := bl.Rate
	if !bl.SampledAt.IsZero() {
		if s := now.Sub(bl.SampledAt).Seconds(); s > 0 {
			r := float64(done-bl.Done) / s
			if rate > 0 {
				r = 0.5*r + 0.5*rate // smoothed: one slow sample does not swing the ETA
			}
			rate = max(r, 0)
		}
	}
	_, err = tx.Exec(ctx, `UPDATE `+b.table()+` SET done_events = $3, rate = $4, sampled_at = $5 WHERE projection = $1 AND build = $2`,
		bl.Projection, bl.Build, done, rate, now)
	return err
}

// errBuildStopped fails the transactions of a build that is no longer
// building or live (retired, aborted, dropped): its workers roll back until
// their runner stops them. It is returned as checkpoint.ErrFenced too (the
// switch or the drop fenced the build): the worker's partition gives up at
// once rather than retrying it like an outage, which would also hold the
// worker's graceful stop — and the builds loop waiting for it — for the
// whole shutdown timeout.
var errBuildStopped = errors.New("projection build is no longer running")

type bufferedKey struct{}

// buildBuffered reports whether a delivery's transaction runs for a build
// that is still building (its effects are held back); false for a live
// build or outside a build.
func buildBuffered(ctx context.Context) bool {
	v, _ := ctx.Value(bufferedKey{}).(bool)
	return v
}

// beforeTx is a build's worker.BeforeTx hook: one round trip that points
// search_path at the build's schema for the transaction and reads the
// build's state, which decides the effects' mode of the whole transaction.
func (b *Builds) beforeTx(bl Build) worker.BeforeTxFunc {
	q := `SELECT set_config('search_path', $1 || ', ' || current_setting('search_path'), true),
		coalesce((SELECT state FROM ` + b.table() + ` WHERE projection = $2 AND build = $3), '')`
	schema := pgx.Identifier{bl.Schema}.Sanitize()
	return func(ctx context.Context, tx pgx.Tx) (context.Context, error) {
		var path, state string
		if err := tx.QueryRow(ctx, q, schema, bl.Projection, bl.Build).Scan(&path, &state); err != nil {
			return nil, err
		}
		switch BuildState(state) {
		case BuildBuilding:
			return context.WithValue(ctx, bufferedKey{}, true), nil
		case BuildLive:
			return context.WithValue(ctx, bufferedKey{}, false), nil
		}
		return nil, fmt.Errorf("%w (%w): %s is %q", errBuildStopped, checkpoint.ErrFenced, bl.Subscription, state)
	}
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultRetentionBatch is how many events one retention transaction
// deletes at most, by default.
const DefaultRetentionBatch = 10_000

// Retention selects the old events of one category that ApplyRetention
// deletes.
type Retention struct {
	Category string
	// MaxAge deletes events recorded longer ago than this (0: no age limit).
	MaxAge time.Duration
	// MaxCount keeps at most this many newest events of the category
	// (0: no count limit).
	MaxCount int64
	// Force deletes even events that the guards would keep: not yet
	// processed by a subscription, or referred to by a dead letter or a
	// saga inbox.
	Force bool
	// BatchSize bounds the rows one delete transaction removes
	// (default DefaultRetentionBatch).
	BatchSize int
}

// Validate reports a Retention that ApplyRetention would refuse: no
// category, no limit, or a negative one.
func (p Retention) Validate() error {
	if p.Category == "" {
		return errors.New("needs a category")
	}
	if p.MaxAge <= 0 && p.MaxCount <= 0 {
		return errors.New("needs MaxAge or MaxCount")
	}
	if p.MaxAge < 0 || p.MaxCount < 0 || p.BatchSize < 0 {
		return errors.New("MaxAge, MaxCount and BatchSize must not be negative")
	}
	return nil
}

// RetentionResult reports one application of a Retention.
type RetentionResult struct {
	// Deleted is how many events were deleted.
	Deleted int64
	// Batches is how many delete transactions ran (each at most BatchSize
	// rows).
	Batches int
}

// position is a place in the global log, (tx_id, position).
type position struct {
	tx  uint64
	pos int64
}

// ApplyRetention deletes the events of p.Category that are older than
// p.MaxAge or older than the newest p.MaxCount events of the category.
// Unless p.Force is set it keeps what the guards describe: with the
// checkpoint and saga stores' guards, every event that some subscription
// partition has not processed yet (after the minimum checkpoint over all
// partitions) and every event a dead letter or a saga inbox refers to.
//
// Candidates are found with plain reads, which hold no transaction id, and
// deleted by primary key in transactions of at most p.BatchSize rows, each
// one statement that re-checks the guards. So no transaction that holds the
// log's horizon back runs long, however much there is to delete. On error
// (or when ctx ends) it returns what it deleted so far.
//
// The reads walk the primary key (tx_id, position) from the start of the
// log up to the slowest checkpoint (to the end when forced), filtering by
// category: the events table has no category index, which would tax every
// append. So a run costs one read of that part of the log, whatever it
// deletes.
//
// What must be kept is described by guards, one per store that holds
// positions or event ids (checkpoint.PostgresStore's and saga/postgres's
// RetentionGuard), so this code names no table but the log's. The guards
// are re-checked inside each batch's DELETE statement, atomically with it,
// against a concurrent checkpoint reset or dead letter.
func (s *Store) ApplyRetention(ctx context.Context, p Retention, guards ...RetentionGuard) (RetentionResult, error) {
	var res RetentionResult
	if err := p.Validate(); err != nil {
		return res, fmt.Errorf("eventlog/postgres: retention of %q: %w", p.Category, err)
	}
	if p.BatchSize == 0 {
		p.BatchSize = DefaultRetentionBatch
	}
	r := retention{pool: s.pool, q: pgx.Identifier{s.schema}.Sanitize(), p: p}
	for _, g := range guards {
		r.positions = append(r.positions, g.Positions...)
		r.eventIDs = append(r.eventIDs, g.EventIDs...)
	}
	find, del, args, err := r.plan(ctx)
	if err != nil || find == "" {
		return res, err
	}
	var cursor position
	for {
		keys, err := r.candidates(ctx, find, args, cursor)
		if err != nil {
			return res, err
		}
		if len(keys) == 0 {
			return res, nil
		}
		n, err := r.delete(ctx, del, keys)
		if err != nil {
			return res, err
		}
		res.Deleted += n
		res.Batches++
		if len(keys) < p.BatchSize {
			return res, nil
		}
		cursor = keys[len(keys)-1]
	}
}

type retention struct {
	pool      *pgxpool.Pool
	q         string // quoted schema
	p         Retention
	positions []PositionColumns
	eventIDs  []EventIDColumn
}

// table quotes a table of the schema.
func (r retention) table(name string) string { return r.q + "." + pgx.Identifier{name}.Sanitize() }

// lowest is a query for the lowest position in c's table, as (tx_id, position).
func (r retention) lowest(c PositionColumns) string {
	tx, seq := pgx.Identifier{c.TxID}.Sanitize(), pgx.Identifier{c.Seq}.Sanitize()
	return `SELECT ` + tx + ` AS tx_id, ` + seq + ` AS position FROM ` + r.table(c.Table) + ` ORDER BY ` + tx + `, ` + seq + ` LIMIT 1`
}

func (r retention) wrap(op string, err error) error {
	return fmt.Errorf("eventlog/postgres: retention of %s: %s: %w", r.p.Category, op, err)
}

// plan reads the bounds of this run and renders its two statements. The
// candidate query takes the category, the cursor ($2, $3) and the batch
// size ($4), then the bounds in args. find is empty when nothing can be
// deleted.
func (r retention) plan(ctx context.Context) (find, del string, args []any, err error) {
	where := []string{"e.category = $1", "(e.tx_id, e.position) > ($2::xid8, $3::bigint)"}
	arg := func(v any, cast string) string {
		args = append(args, v)
		return fmt.Sprintf("$%d::%s", 4+len(args), cast)
	}
	if !r.p.Force {
		guard, ok, err := r.minCheckpoint(ctx)
		if err != nil {
			return "", "", nil, err
		}
		if ok {
			// Everything after the slowest partition's checkpoint is still
			// to be processed by someone.
			where = append(where, "(e.tx_id, e.position) <= ("+arg(guard.tx, "xid8")+", "+arg(guard.pos, "bigint")+")")
		}
	}
	var limits []string
	if r.p.MaxAge > 0 {
		limits = append(limits, "e.recorded_at < now() - "+arg(r.p.MaxAge.Microseconds(), "bigint")+" * interval '1 microsecond'")
	}
	if r.p.MaxCount > 0 {
		cut, ok, err := r.countCutoff(ctx)
		if err != nil {
			return "", "", nil, err
		}
		if ok {
			limits = append(limits, "(e.tx_id, e.position) <= ("+arg(cut.tx, "xid8")+", "+arg(cut.pos, "bigint")+")")
		}
	}
	if len(limits) == 0 {
		return "", "", nil, nil // fewer events than MaxCount and no age limit
	}
	where = append(where, "("+strings.Join(limits, " OR ")+")")
	refs := ""
	if !r.p.Force {
		for _, c := range r.eventIDs {
			refs += `
			AND NOT EXISTS (SELECT 1 FROM ` + r.table(c.Table) + ` x WHERE x.` + pgx.Identifier{c.Column}.Sanitize() + ` = e.event_id)`
		}
	}
	find = `SELECT e.tx_id, e.position FROM ` + r.q + `.events e
		WHERE ` + strings.Join(where, " AND ") + refs + `
		ORDER BY e.tx_id, e.position
		LIMIT $4`
	del = `DELETE FROM ` + r.q + `.events e
		USING unnest($1::xid8[], $2::bigint[]) AS k(tx_id, position)
		WHERE e.tx_id = k.tx_id AND e.position = k.position`
	if !r.p.Force {
		// Re-check the guards as of this statement: a checkpoint may have
		// been reset, or a dead letter written, since the candidates were read.
		var ctes []string
		for i, c := range r.positions {
			g := fmt.Sprintf("g%d", i)
			ctes = append(ctes, g+` AS MATERIALIZED (`+r.lowest(c)+`)`)
			refs = `
			AND NOT EXISTS (SELECT 1 FROM ` + g + ` WHERE (` + g + `.tx_id, ` + g + `.position) < (e.tx_id, e.position))` + refs
		}
		if len(ctes) > 0 {
			del = `WITH ` + strings.Join(ctes, ", ") + `
		` + del
		}
		del += refs
	}
	return find, del, args, nil
}

// minCheckpoint is the lowest position over the guards' position tables
// (every partition's checkpoint); ok is false when there are none.
func (r retention) minCheckpoint(ctx context.Context) (position, bool, error) {
	var low position
	ok := false
	for _, c := range r.positions {
		var g position
		err := r.pool.QueryRow(ctx, r.lowest(c)).Scan(&g.tx, &g.pos)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return low, false, r.wrap("read minimum checkpoint", err)
		}
		if !ok || g.tx < low.tx || g.tx == low.tx && g.pos < low.pos {
			low, ok = g, true
		}
	}
	return low, ok, nil
}

// countCutoff is the newest event of the category beyond the newest
// MaxCount; ok is false when the category has no more than MaxCount events.
func (r retention) countCutoff(ctx context.Context) (position, bool, error) {
	var c position
	err := r.pool.QueryRow(ctx, `SELECT e.tx_id, e.position FROM `+r.q+`.events e
		WHERE e.category = $1 ORDER BY e.tx_id DESC, e.position DESC OFFSET $2 LIMIT 1`, r.p.Category, r.p.MaxCount).Scan(&c.tx, &c.pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, r.wrap("find count cutoff", err)
	}
	return c, true, nil
}

// candidates reads the next batch of deletable keys after cursor. It is a
// plain read: it takes no transaction id, so it holds nobody back.
func (r retention) candidates(ctx context.Context, find string, bounds []any, cursor position) ([]position, error) {
	args := append([]any{r.p.Category, cursor.tx, cursor.pos, r.p.BatchSize}, bounds...)
	rows, err := r.pool.Query(ctx, find, args...)
	if err != nil {
		return nil, r.wrap("find candidates", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (position, error) {
		var k position
		err := row.Scan(&k.tx, &k.pos)
		return k, err
	})
	if err != nil {
		return nil, r.wrap("find candidates", err)
	}
	return keys, nil
}

// delete removes one batch in one short transaction (one statement).
func (r retention) delete(ctx context.Context, del string, keys []position) (int64, error) {
	txs := make([]uint64, len(keys))
	poss := make([]int64, len(keys))
	for i, k := range keys {
		txs[i], poss[i] = k.tx, k.pos
	}
	tag, err := r.pool.Exec(ctx, del, txs, poss)
	if err != nil {
		return 0, r.wrap("delete batch", err)
	}
	return tag.RowsAffected(), nil
}

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// PositionColumns names a table outside the events table that stores log
// positions (a checkpoint table, say), so Restamp can rewrite them too.
type PositionColumns struct {
	Table string // in the store's schema
	TxID  string // xid8 column
	Seq   string // bigint column
}

// RestampResult reports a restamp.
type RestampResult struct {
	Events    int64
	Positions int64 // rows of PositionColumns tables rewritten
}

// Restamp re-stamps the transaction ids of every stored event after the
// database was moved to another cluster (pg_dump/pg_restore, logical
// replication): there the stored tx_id values mean nothing, and ids above the
// new cluster's counter would hide events from readers and sort new events
// before old ones.
//
// It keeps the global order: events are renumbered 1…n in their current
// (tx_id, position) order and all given tx_id 1, which sorts below every real
// transaction id (the first normal one is 3), so every later append comes
// after them. Positions stored in the extra tables are mapped to the last
// event at or before them. It runs in one transaction holding an EXCLUSIVE
// lock on the events table, so stop writers (runners) first; readers wait.
func (s *Store) Restamp(ctx context.Context, extra ...PositionColumns) (RestampResult, error) {
	var res RestampResult
	t := pgx.Identifier{s.schema, "events"}.Sanitize()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+t+` IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE causeway_restamp ON COMMIT DROP AS
			SELECT tx_id, position, row_number() OVER (ORDER BY tx_id, position) AS rn FROM `+t); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE UNIQUE INDEX ON causeway_restamp (tx_id, position)`); err != nil {
			return err
		}
		for _, pc := range extra {
			xt := pgx.Identifier{s.schema, pc.Table}.Sanitize()
			x, q := pgx.Identifier{pc.TxID}.Sanitize(), pgx.Identifier{pc.Seq}.Sanitize()
			// Start stays Start; anything else maps to the last event at or
			// before it (a cursor stored before cursors stayed on rows may sit
			// between events, at an old horizon).
			tag, err := tx.Exec(ctx, `UPDATE `+xt+` c SET `+x+` = CASE WHEN m.rn IS NULL THEN '0'::xid8 ELSE '1'::xid8 END,
				`+q+` = coalesce(m.rn, 0)
				FROM (SELECT c2.ctid AS id, (SELECT max(r.rn) FROM causeway_restamp r
				        WHERE (r.tx_id, r.position) <= (c2.`+x+`, c2.`+q+`)) AS rn
				      FROM `+xt+` c2) m
				WHERE c.ctid = m.id AND NOT (c.`+x+` = '0'::xid8 AND c.`+q+` = 0)`)
			if err != nil {
				return fmt.Errorf("restamp %s: %w", pc.Table, err)
			}
			res.Positions += tag.RowsAffected()
		}
		tag, err := tx.Exec(ctx, `UPDATE `+t+` e SET tx_id = '1'::xid8, position = r.rn
			FROM causeway_restamp r WHERE e.tx_id = r.tx_id AND e.position = r.position`)
		if err != nil {
			return fmt.Errorf("restamp events: %w", err)
		}
		res.Events = tag.RowsAffected()
		_, err = tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'position'),
			greatest((SELECT coalesce(max(position), 0) FROM `+t+`), 1))`, s.schema+".events")
		return err
	})
	if err != nil {
		return RestampResult{}, s.wrap("restamp", err)
	}
	return res, nil
}

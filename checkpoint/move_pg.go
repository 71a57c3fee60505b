package checkpoint

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
)

// movesTable is the moves' table (kept out of tables, which other concerns
// extend).
func (s *PostgresStore) movesTable() string {
	return pgx.Identifier{s.schema, "subscription_moves"}.Sanitize()
}

// Move implements Store, in one transaction. The partitions are locked
// first: a batch committing on one of them either commits before (its
// checkpoint is the move's "from", its dead letters are seen by the
// delete, which runs later with a newer snapshot) or is fenced after.
func (s *PostgresStore) Move(ctx context.Context, sub string, req MoveRequest) (MoveRecord, error) {
	req = storableMove(req)
	rec := MoveRecord{Subscription: sub, To: req.To, Target: req.Target, RequestedBy: req.By}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tx_id, position FROM `+s.t.parts+`
			WHERE subscription = $1 ORDER BY partition FOR UPDATE`, sub)
		if err != nil {
			return err
		}
		old, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventlog.Position, error) {
			var p eventlog.Position
			err := r.Scan(&p.TxID, &p.Seq)
			return p, err
		})
		if err != nil {
			return err
		}
		if len(old) == 0 {
			return fmt.Errorf("%w: subscription %q", ErrNotFound, sub)
		}
		rec.FromMin, rec.FromMax = span(old)
		if _, err := tx.Exec(ctx, `UPDATE `+s.t.parts+` p
			SET tx_id = $2, position = $3, epoch = p.epoch + 1,
			    owner = NULL, lease_expires_at = NULL, committed_at = now()
			WHERE p.subscription = $1`, sub, req.To.TxID, req.To.Seq); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM `+s.t.dls+`
			WHERE subscription = $1 AND (event_tx, event_pos) > ($2::xid8, $3::bigint)`, sub, req.To.TxID, req.To.Seq)
		if err != nil {
			return err
		}
		rec.DeadLettersDeleted = int(tag.RowsAffected())
		return tx.QueryRow(ctx, `INSERT INTO `+s.movesTable()+` (subscription, from_min_tx, from_min_pos,
				from_max_tx, from_max_pos, to_tx, to_pos, target, requested_by, dead_letters_deleted)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id, requested_at`,
			sub, rec.FromMin.TxID, rec.FromMin.Seq, rec.FromMax.TxID, rec.FromMax.Seq, rec.To.TxID, rec.To.Seq,
			rec.Target, rec.RequestedBy, rec.DeadLettersDeleted).Scan(&rec.ID, &rec.RequestedAt)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return MoveRecord{}, err
		}
		return MoveRecord{}, wrap("move "+sub, err)
	}
	return rec, nil
}

// Moves implements Store.
func (s *PostgresStore) Moves(ctx context.Context, sub string, limit int) ([]MoveRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, subscription, from_min_tx, from_min_pos, from_max_tx, from_max_pos,
			to_tx, to_pos, target, requested_by, requested_at, dead_letters_deleted
		FROM `+s.movesTable()+` WHERE ($1 = '' OR subscription = $1) ORDER BY id DESC LIMIT $2`, sub, movesLimit(limit))
	if err != nil {
		return nil, wrap("list moves", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MoveRecord, error) {
		var m MoveRecord
		err := r.Scan(&m.ID, &m.Subscription, &m.FromMin.TxID, &m.FromMin.Seq, &m.FromMax.TxID, &m.FromMax.Seq,
			&m.To.TxID, &m.To.Seq, &m.Target, &m.RequestedBy, &m.RequestedAt, &m.DeadLettersDeleted)
		return m, err
	})
	if err != nil {
		return nil, wrap("list moves", err)
	}
	return out, nil
}

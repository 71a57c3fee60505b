package checkpoint

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Reset implements Store.
func (s *PostgresStore) Reset(ctx context.Context, sub string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.ResetTx(ctx, tx, sub) })
}

// ResetTx is Reset inside the caller's transaction, so a read model can be
// emptied in the same transaction (projection replay).
func (s *PostgresStore) ResetTx(ctx context.Context, tx pgx.Tx, sub string) error {
	tag, err := tx.Exec(ctx, `UPDATE `+s.t.parts+` p
		SET tx_id = x.start_tx, position = x.start_pos, epoch = p.epoch + 1,
		    owner = NULL, lease_expires_at = NULL, committed_at = now()
		FROM `+s.t.subs+` x
		WHERE p.subscription = $1 AND x.name = p.subscription`, sub)
	if err != nil {
		return wrap("reset "+sub, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: subscription %q", ErrNotFound, sub)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM `+s.t.dls+` WHERE subscription = $1`, sub); err != nil {
		return wrap("reset "+sub, err)
	}
	return nil
}

// Reset implements Store.
func (s *MemoryStore) Reset(ctx context.Context, sub string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.get(sub)
	if err != nil {
		return err
	}
	for i := range m.parts {
		p := &m.parts[i]
		p.Checkpoint, p.Epoch, p.Owner, p.LeaseExpiresAt, p.CommittedAt = m.sub.StartAt, p.Epoch+1, "", timeZero, s.now()
	}
	clear(m.dls)
	return nil
}

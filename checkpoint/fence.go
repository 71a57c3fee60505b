package checkpoint

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
)

// FenceTx locks every partition of sub in the caller's transaction (waiting
// for a batch committing on one), bumps every epoch and frees the leases:
// whoever holds one is fenced (its next commit fails) and, until tx ends,
// nobody can claim them. It returns the checkpoints as they stand, by
// partition; none for an unknown subscription. A blue/green switch freezes
// the old build and fences the new one's in-flight batches with it.
func (s *PostgresStore) FenceTx(ctx context.Context, tx pgx.Tx, sub string) ([]eventlog.Position, error) {
	rows, err := tx.Query(ctx, `UPDATE `+s.t.parts+`
		SET epoch = epoch + 1, owner = NULL, lease_expires_at = NULL
		WHERE subscription = $1
		RETURNING tx_id, position`, sub)
	if err != nil {
		return nil, wrap("fence "+sub, err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventlog.Position, error) {
		var p eventlog.Position
		err := r.Scan(&p.TxID, &p.Seq)
		return p, err
	})
	if err != nil {
		return nil, wrap("fence "+sub, err)
	}
	return ps, nil
}

// DeleteTx deletes a subscription with its partitions, members and dead
// letters, in the caller's transaction (a dropped build's). Workers still
// running it are fenced.
func (s *PostgresStore) DeleteTx(ctx context.Context, tx pgx.Tx, sub string) error {
	for _, q := range []string{
		`DELETE FROM ` + s.t.dls + ` WHERE subscription = $1`,
		`DELETE FROM ` + s.t.members + ` WHERE subscription = $1`,
		`DELETE FROM ` + s.t.subs + ` WHERE name = $1`, // partitions cascade
	} {
		if _, err := tx.Exec(ctx, q, sub); err != nil {
			return wrap("delete "+sub, err)
		}
	}
	return nil
}

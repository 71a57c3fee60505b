package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/worker/queue"
)

// DeadLetters implements queue.Store.
func (s *Store) DeadLetters(ctx context.Context, name string, after uuid.UUID, limit int) ([]queue.DeadLetter, error) {
	if _, err := s.config(ctx, s.pool, name); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+msgCols+`, m.last_error, m.dead_at FROM `+s.t.msgs+` m
		WHERE m.queue = $1 AND m.dead_at IS NOT NULL AND m.id > $2 ORDER BY m.id LIMIT $3`, name, after, limit)
	if err != nil {
		return nil, wrap("list dead letters", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queue.DeadLetter, error) {
		var d queue.DeadLetter
		err := r.Scan(scanMsg(&d.Message, &d.LastError, &d.DeadAt)...)
		return d, err
	})
	if err != nil {
		return nil, wrap("list dead letters", err)
	}
	return out, nil
}

// DeadLetter implements queue.Store.
func (s *Store) DeadLetter(ctx context.Context, name string, id uuid.UUID) (queue.DeadLetter, error) {
	var d queue.DeadLetter
	err := s.pool.QueryRow(ctx, `SELECT `+msgCols+`, m.last_error, m.dead_at FROM `+s.t.msgs+` m
		WHERE m.queue = $1 AND m.id = $2 AND m.dead_at IS NOT NULL`, name, id).Scan(scanMsg(&d.Message, &d.LastError, &d.DeadAt)...)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.config(ctx, s.pool, name); err != nil {
			return queue.DeadLetter{}, err
		}
		return queue.DeadLetter{}, fmt.Errorf("%w: dead letter %s in queue %q", queue.ErrNotFound, id, name)
	}
	if err != nil {
		return queue.DeadLetter{}, wrap("read dead letter", err)
	}
	return d, nil
}

// Requeue implements queue.Store.
func (s *Store) Requeue(ctx context.Context, name string, id uuid.UUID) error {
	err := s.deadOp(ctx, "requeue", name, id, `UPDATE `+s.t.msgs+` SET dead_at = NULL, attempts = 0,
		available_at = now(), locked_until = NULL WHERE queue = $1 AND id = $2 AND dead_at IS NOT NULL`)
	if err == nil {
		s.hint(name)
	}
	return err
}

// Discard implements queue.Store.
func (s *Store) Discard(ctx context.Context, name string, id uuid.UUID) error {
	return s.deadOp(ctx, "discard", name, id, `DELETE FROM `+s.t.msgs+` WHERE queue = $1 AND id = $2 AND dead_at IS NOT NULL`)
}

func (s *Store) deadOp(ctx context.Context, op, name string, id uuid.UUID, sql string) error {
	tag, err := s.pool.Exec(ctx, sql, name, id)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.config(ctx, s.pool, name); err != nil {
			return err
		}
		return fmt.Errorf("%w: dead letter %s in queue %q", queue.ErrNotFound, id, name)
	}
	return nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/worker/queue"
)

// Enqueue implements queue.Store: all messages in one transaction.
func (s *Store) Enqueue(ctx context.Context, name string, msgs ...queue.Outgoing) ([]queue.Enqueued, error) {
	ps, err := queue.Prepare(name, msgs)
	if err != nil {
		return nil, err
	}
	var out []queue.Enqueued
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out, err = s.enqueue(ctx, tx, name, ps)
		return err
	})
	return out, err
}

// EnqueueTx enqueues msgs in the caller's transaction, so they commit (and
// become deliverable) with the caller's other writes, or not at all.
func (s *Store) EnqueueTx(ctx context.Context, tx pgx.Tx, name string, msgs ...queue.Outgoing) ([]queue.Enqueued, error) {
	ps, err := queue.Prepare(name, msgs)
	if err != nil {
		return nil, err
	}
	// A savepoint, so a refused message (unknown queue, duplicate id)
	// leaves the caller's transaction usable.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, wrap("enqueue", err)
	}
	out, err := s.enqueue(ctx, sp, name, ps)
	if err != nil {
		_ = sp.Rollback(ctx)
		return nil, err
	}
	if err := sp.Commit(ctx); err != nil {
		return nil, wrap("enqueue", err)
	}
	return out, nil
}

func (s *Store) enqueue(ctx context.Context, tx pgx.Tx, name string, ps []queue.Prepared) ([]queue.Enqueued, error) {
	out := make([]queue.Enqueued, len(ps))
	for i, p := range ps {
		if p.DedupKey != "" {
			// A key whose window has ended is taken over; a live one makes
			// this message a duplicate. Concurrent inserts of one key wait
			// for each other on the primary key.
			var id uuid.UUID
			err := tx.QueryRow(ctx, `INSERT INTO `+s.t.dedup+` AS d (queue, key, message_id, expires_at)
				VALUES ($1, $2, $3, now() + $4 * interval '1 microsecond')
				ON CONFLICT (queue, key) DO UPDATE SET message_id = excluded.message_id, expires_at = excluded.expires_at
					WHERE d.expires_at <= now()
				RETURNING message_id`, name, p.DedupKey, p.ID, micros(p.DedupWindow)).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				if err := tx.QueryRow(ctx, `SELECT message_id FROM `+s.t.dedup+` WHERE queue = $1 AND key = $2`,
					name, p.DedupKey).Scan(&id); err != nil {
					return nil, wrap("enqueue: read dedup key", err)
				}
				out[i] = queue.Enqueued{ID: id, Duplicate: true}
				continue
			}
			if err != nil {
				return nil, s.enqueueErr(name, err)
			}
		}
		var headers any
		if p.Headers != nil {
			headers = string(p.HeadersJSON)
		}
		var notBefore any
		if !p.NotBefore.IsZero() {
			notBefore = p.NotBefore
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+s.t.msgs+` (id, queue, payload, headers, priority, available_at)
			VALUES ($1, $2, $3::text::jsonb, $4::text::jsonb, $5,
				greatest(now() + $6 * interval '1 microsecond', coalesce($7::timestamptz, '-infinity')))`,
			p.ID, name, string(p.Payload), headers, p.Priority, micros(p.Delay), notBefore)
		if err != nil {
			return nil, s.enqueueErr(name, err)
		}
		out[i] = queue.Enqueued{ID: p.ID}
	}
	return out, nil
}

func (s *Store) enqueueErr(name string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23503": // foreign key: no such queue
			return fmt.Errorf("%w: %q", queue.ErrUnknownQueue, name)
		case "23505": // primary key: the id is taken
			return fmt.Errorf("%w: message id already stored: %s", queue.ErrInvalidMessage, pe.Detail)
		}
	}
	return wrap("enqueue", err)
}

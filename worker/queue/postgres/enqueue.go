package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/causewayhq/causeway/worker/queue"
)

// Enqueue implements queue.Store: all messages in one transaction. A batch
// without deduplication keys is one INSERT statement, atomic by itself,
// so it needs no explicit transaction: one round trip.
func (s *Store) Enqueue(ctx context.Context, name string, msgs ...queue.Outgoing) ([]queue.Enqueued, error) {
	ps, err := queue.Prepare(name, msgs)
	if err != nil {
		return nil, err
	}
	var out []queue.Enqueued
	if !hasDedup(ps) {
		out, err = s.insert(ctx, s.pool, name, ps)
	} else {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			out, err = s.enqueue(ctx, tx, name, ps)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	if stored(out) {
		s.hint(name)
	}
	return out, nil
}

// stored reports whether an enqueue stored anything (not only duplicates).
func stored(out []queue.Enqueued) bool {
	for _, e := range out {
		if !e.Duplicate {
			return true
		}
	}
	return false
}

// EnqueueTx enqueues msgs in the caller's transaction, so they commit (and
// become deliverable) with the caller's other writes, or not at all. It
// NOTIFYs the queue's consumers in that transaction too (PostgreSQL
// delivers the notification at commit).
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
	if stored(out) {
		// Delivered at the caller's commit; nothing if it rolls back.
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.n.channel, name); err != nil {
			return nil, wrap("enqueue: notify", err)
		}
	}
	return out, nil
}

func hasDedup(ps []queue.Prepared) bool {
	for _, p := range ps {
		if p.DedupKey != "" {
			return true
		}
	}
	return false
}

// insert stores messages without deduplication keys in one statement.
func (s *Store) insert(ctx context.Context, db querier, name string, ps []queue.Prepared) ([]queue.Enqueued, error) {
	var (
		ids       = make([][16]byte, len(ps)) // binary, not uuid.UUID's driver.Valuer string
		payloads  = make([]string, len(ps))
		headers   = make([]*string, len(ps))
		prios     = make([]int32, len(ps))
		delays    = make([]int64, len(ps))
		notBefore = make([]*time.Time, len(ps))
		out       = make([]queue.Enqueued, len(ps))
	)
	for i, p := range ps {
		ids[i], payloads[i], prios[i], delays[i] = p.ID, string(p.Payload), int32(p.Priority), micros(p.Delay)
		if p.Headers != nil {
			h := string(p.HeadersJSON)
			headers[i] = &h
		}
		if !p.NotBefore.IsZero() {
			notBefore[i] = &p.NotBefore
		}
		out[i] = queue.Enqueued{ID: p.ID}
	}
	// WITH ORDINALITY and ORDER BY: seq (the tie-break of equal ready
	// times) follows the batch's order.
	_, err := db.Exec(ctx, `INSERT INTO `+s.t.msgs+` (id, queue, payload, headers, priority, available_at)
		SELECT u.id, $1, u.payload::jsonb, u.headers::jsonb, u.priority,
			greatest(now() + u.delay * interval '1 microsecond', coalesce(u.not_before, '-infinity'))
		FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::timestamptz[])
			WITH ORDINALITY AS u(id, payload, headers, priority, delay, not_before, ord)
		ORDER BY u.ord`, name, ids, payloads, headers, prios, delays, notBefore)
	if err != nil {
		return nil, s.enqueueErr(name, err)
	}
	return out, nil
}

func (s *Store) enqueue(ctx context.Context, tx pgx.Tx, name string, ps []queue.Prepared) ([]queue.Enqueued, error) {
	if !hasDedup(ps) {
		return s.insert(ctx, tx, name, ps)
	}
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
			return queueErr(name)
		case "23505": // primary key: the id is taken
			return fmt.Errorf("%w: message id already stored: %s", queue.ErrInvalidMessage, pe.Detail)
		}
	}
	return wrap("enqueue", err)
}

package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/worker/queue"
)

// AckMany implements queue.Store: one statement for the batch.
func (s *Store) AckMany(ctx context.Context, rs []queue.Receipt) ([]queue.Receipt, error) {
	ids, tokens := receiptParts(rs)
	var acked [][16]byte
	if len(ids) > 0 {
		rows, err := s.pool.Query(ctx, s.ackManySQL(), ids, tokens)
		if err != nil {
			return nil, wrap("ack", err)
		}
		if acked, err = pgx.CollectRows(rows, pgx.RowTo[[16]byte]); err != nil {
			return nil, wrap("ack", err)
		}
	}
	return staleOf(rs, acked), nil
}

// AckDequeue implements queue.AckDequeuer: AckMany's statement and
// Dequeue's sent together as one batch, which the extended protocol runs
// in one implicit transaction (one round trip, one commit). The dequeue
// runs after the acks in that transaction, so it cannot deliver a message
// it has just acked.
func (s *Store) AckDequeue(ctx context.Context, rs []queue.Receipt, name string, n int, visibility time.Duration) ([]queue.Receipt, []queue.Delivery, error) {
	ids, tokens := receiptParts(rs)
	if len(ids) == 0 || n <= 0 {
		stale, err := s.AckMany(ctx, rs)
		if err != nil {
			return nil, nil, err
		}
		ds, err := s.Dequeue(ctx, name, n, visibility)
		return stale, ds, err
	}
	b := &pgx.Batch{}
	b.Queue(s.ackQueueSQL(), ids, tokens, name)
	b.Queue(s.dequeueSQL(n), name, visArg(visibility))
	br := s.pool.SendBatch(ctx, b)
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, nil, wrap("ack and dequeue", err)
	}
	acked, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
	if err != nil {
		_ = br.Close()
		return nil, nil, wrap("ack and dequeue", err)
	}
	rows, err = br.Query()
	if err != nil {
		_ = br.Close()
		return nil, nil, wrap("ack and dequeue", err)
	}
	ds, err := scanDeliveries(rows)
	if err != nil {
		_ = br.Close()
		return nil, nil, err
	}
	// The commit: until it succeeds, neither the acks nor the dequeue took.
	if err := br.Close(); err != nil {
		return nil, nil, wrap("ack and dequeue", err)
	}
	// Whether the queue exists (when nothing came back) is left to the
	// next dequeue: the acks are committed, and an error would say they
	// were not.
	return staleOf(rs, acked), ds, nil
}

// ackManySQL acks the receipts whose message ids are in $1 and tokens in
// $2, and returns the tokens it acked. Matching both lists is exact: a
// token names one delivery of one message, so a row matches only if its
// current delivery's receipt was given. By id (the primary key), not by
// token: tokens need no index of their own, one index entry fewer per
// dequeue. id = ANY($1), not a join with unnest: the generic plan of the
// join is a merge join over the whole index. Retained queues' messages
// are marked acked; that UPDATE joins the row's pre-update version (o)
// for the token it had.
func (s *Store) ackManySQL() string {
	return `WITH d AS (
			DELETE FROM ` + s.t.msgs + ` m USING ` + s.t.queues + ` q
			WHERE m.id = ANY($1) AND m.receipt = ANY($2) AND q.name = m.queue AND q.retention = 0
			RETURNING m.receipt
		), k AS (
			UPDATE ` + s.t.msgs + ` m SET acked_at = now(), receipt = NULL, locked_until = NULL
			FROM ` + s.t.queues + ` q, ` + s.t.msgs + ` o
			WHERE m.id = ANY($1) AND m.receipt = ANY($2) AND q.name = m.queue AND q.retention > 0 AND o.id = m.id
			RETURNING o.receipt
		)
		SELECT receipt FROM d UNION ALL SELECT receipt FROM k`
}

// ackQueueSQL is ackManySQL for receipts of one queue ($3): the queue's
// retention is read once and gates each branch as a one-time filter, so
// only one of them looks the messages up (AckDequeue's acks are all of its
// consumer's queue).
func (s *Store) ackQueueSQL() string {
	return `WITH q AS MATERIALIZED (
			SELECT retention FROM ` + s.t.queues + ` WHERE name = $3
		), d AS (
			DELETE FROM ` + s.t.msgs + ` m
			WHERE (SELECT retention FROM q) = 0 AND m.id = ANY($1) AND m.receipt = ANY($2) AND m.queue = $3
			RETURNING m.receipt
		), k AS (
			UPDATE ` + s.t.msgs + ` m SET acked_at = now(), receipt = NULL, locked_until = NULL
			FROM ` + s.t.msgs + ` o
			WHERE (SELECT retention FROM q) > 0 AND m.id = ANY($1) AND m.receipt = ANY($2) AND m.queue = $3 AND o.id = m.id
			RETURNING o.receipt
		)
		SELECT receipt FROM d UNION ALL SELECT receipt FROM k`
}

// receiptParts parses receipts into message ids and tokens; one that is
// not ours names no delivery and is left out (staleOf reports it).
//
// They are [16]byte, not uuid.UUID: pgx encodes a uuid.UUID through its
// driver.Valuer (a string per element, parsed again), a third of the
// consumer's client CPU in an ack-and-dequeue; [16]byte goes out binary.
func receiptParts(rs []queue.Receipt) (ids, tokens [][16]byte) {
	ids, tokens = make([][16]byte, 0, len(rs)), make([][16]byte, 0, len(rs))
	for _, r := range rs {
		if rc, err := parseReceipt("", r); err == nil {
			ids, tokens = append(ids, rc.id), append(tokens, rc.token)
		}
	}
	return ids, tokens
}

// staleOf is the receipts of rs not in acked, in order.
func staleOf(rs []queue.Receipt, acked [][16]byte) []queue.Receipt {
	if len(acked) == len(rs) {
		return nil
	}
	done := make(map[[16]byte]bool, len(acked))
	for _, id := range acked {
		done[id] = true
	}
	var stale []queue.Receipt
	for _, r := range rs {
		if rc, err := parseReceipt("", r); err != nil || !done[rc.token] {
			stale = append(stale, r)
		}
	}
	return stale
}

// Release implements queue.Store.
func (s *Store) Release(ctx context.Context, r queue.Receipt) error {
	rc, err := parseReceipt("release", r)
	if err != nil {
		return err
	}
	var name string
	err = s.pool.QueryRow(ctx, `UPDATE `+s.t.msgs+` SET receipt = NULL, locked_until = NULL, attempts = greatest(attempts - 1, 0)
		WHERE id = $1 AND receipt = $2 RETURNING queue`, rc.id, rc.token).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return stale("release")
	}
	if err != nil {
		return wrap("release", err)
	}
	s.hint(name)
	return nil
}

// Fail implements queue.Store.
func (s *Store) Fail(ctx context.Context, r queue.Receipt, cause error) error {
	rc, err := parseReceipt("fail", r)
	if err != nil {
		return err
	}
	msg := ""
	if cause != nil {
		msg = cause.Error()
	}
	tag, err := s.pool.Exec(ctx, `UPDATE `+s.t.msgs+` SET receipt = NULL, locked_until = NULL, dead_at = now(), last_error = $2
		WHERE id = $1 AND receipt = $3`, rc.id, msg, rc.token)
	if err != nil {
		return wrap("fail", err)
	}
	if tag.RowsAffected() == 0 {
		return stale("fail")
	}
	return nil
}

// NextAvailable implements queue.Store. The ready index orders a queue's
// live messages by priority first, then available_at: the query walks the
// distinct priorities (a loose index scan, one probe each) instead of every
// live message, which keeps it cheap on a deep queue of delayed messages.
// Per priority, the next time is the least of the first entry not yet
// available and the unlock times of the entries already available (those
// in flight, whose lock is not indexed: a scan of the messages in flight,
// as a dequeue makes; ready ones among them make it now).
func (s *Store) NextAvailable(ctx context.Context, name string) (time.Time, bool, error) {
	var next *time.Time
	err := s.pool.QueryRow(ctx, `WITH RECURSIVE p AS (
			SELECT (SELECT priority FROM `+s.t.msgs+`
				WHERE queue = $1 AND acked_at IS NULL AND dead_at IS NULL
				ORDER BY priority DESC LIMIT 1) AS priority
			UNION ALL
			SELECT (SELECT m.priority FROM `+s.t.msgs+` m
				WHERE m.queue = $1 AND m.acked_at IS NULL AND m.dead_at IS NULL AND m.priority < p.priority
				ORDER BY m.priority DESC LIMIT 1)
			FROM p WHERE p.priority IS NOT NULL
		)
		SELECT (SELECT min(least(
				(SELECT m.available_at FROM `+s.t.msgs+` m
					WHERE m.queue = $1 AND m.acked_at IS NULL AND m.dead_at IS NULL AND m.priority = p.priority
						AND m.available_at > now()
					ORDER BY m.available_at LIMIT 1),
				(SELECT min(greatest(m.available_at, m.locked_until)) FROM `+s.t.msgs+` m
					WHERE m.queue = $1 AND m.acked_at IS NULL AND m.dead_at IS NULL AND m.priority = p.priority
						AND m.available_at <= now())))
			FROM p WHERE p.priority IS NOT NULL)
		FROM `+s.t.queues+` WHERE name = $1`, name).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, queueErr(name)
	}
	if err != nil {
		return time.Time{}, false, wrap("next available", err)
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return *next, true, nil
}

package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/worker/queue"
)

const msgCols = `m.id, m.queue, m.payload::text, m.headers::text, m.priority, m.attempts, m.enqueued_at, greatest(m.available_at, m.locked_until)`

func scanMsg(m *queue.Message, dest ...any) []any {
	return append([]any{&m.ID, &m.Queue, &m.Payload, jsonHeaders{&m.Headers}, &m.Priority, &m.Attempts, &m.EnqueuedAt, &m.AvailableAt}, dest...)
}

// Dequeue implements queue.Store. It is one statement (one round trip,
// no explicit transaction): candidates are locked FOR UPDATE SKIP LOCKED,
// so concurrent consumers pass over each other's rows instead of waiting
// for them or taking them too, and each delivered row gets a fresh receipt
// and a lock (locked_until, the end of its visibility). The claim changes
// no indexed column, so it is a HOT update (migration 0016): the row's new
// version stays on its page, found again through the candidate's ctid.
// The queue's row is only read (max attempts, default visibility), never
// locked, so dequeues do not contend on it. The LIMIT is a literal, not a
// parameter: with a parameter PostgreSQL cannot cost a generic plan and
// plans the statement afresh on every call (a third of its time); with a
// literal it settles on the generic plan (one prepared statement per
// batch size, cached by pgx).
func (s *Store) Dequeue(ctx context.Context, name string, n int, visibility time.Duration) ([]queue.Delivery, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, s.dequeueSQL(n), name, visArg(visibility))
	if err != nil {
		return nil, wrap("dequeue", err)
	}
	ds, err := scanDeliveries(rows)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		// Nothing ready, or no such queue: only now is it worth asking.
		if _, err := s.config(ctx, s.pool, name); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// visArg is a dequeue's visibility parameter: NULL for the queue's own.
func visArg(visibility time.Duration) any {
	if visibility > 0 {
		return micros(visibility)
	}
	return nil
}

// dequeueSQL is Dequeue's statement for a batch of n ($1 the queue, $2 the
// visibility in microseconds or NULL). Rows with no attempt left are there
// because their last delivery's visibility ran out: they go to the dead
// letters instead of out again.
func (s *Store) dequeueSQL(n int) string {
	return `WITH q AS (
			SELECT max_attempts, coalesce($2::bigint, visibility_timeout) AS vis FROM ` + s.t.queues + ` WHERE name = $1
		), c AS (
			SELECT ctid AS loc, id, attempts >= (SELECT max_attempts FROM q) AS exhausted, available_at AS ready_at, seq
			FROM ` + s.t.msgs + `
			WHERE queue = $1 AND acked_at IS NULL AND dead_at IS NULL AND available_at <= now()
				AND (locked_until IS NULL OR locked_until <= now())
			ORDER BY priority DESC, available_at, seq
			LIMIT ` + strconv.Itoa(n) + `
			FOR UPDATE SKIP LOCKED
		), dead AS (
			UPDATE ` + s.t.msgs + ` m SET dead_at = now(), receipt = NULL, locked_until = NULL,
				last_error = 'visibility timeout expired on attempt ' || m.attempts
			FROM c WHERE m.id = c.id AND c.exhausted
		)
		UPDATE ` + s.t.msgs + ` m SET attempts = m.attempts + 1, receipt = gen_random_uuid(),
			locked_until = now() + (SELECT vis FROM q) * interval '1 microsecond'
		FROM c WHERE m.ctid = c.loc AND m.id = c.id AND NOT c.exhausted
		RETURNING ` + msgCols + `, ` + receiptText + `, c.ready_at, c.seq`
}

// scanDeliveries reads dequeueSQL's rows, in delivery order.
func scanDeliveries(rows pgx.Rows) ([]queue.Delivery, error) {
	type ranked struct {
		d       queue.Delivery
		readyAt time.Time
		seq     int64
	}
	var rs []ranked
	for rows.Next() {
		var r ranked
		if err := rows.Scan(scanMsg(&r.d.Message, &r.d.Receipt, &r.readyAt, &r.seq)...); err != nil {
			rows.Close()
			return nil, wrap("dequeue", err)
		}
		r.d.VisibleUntil = r.d.AvailableAt
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("dequeue", err)
	}
	if len(rs) == 0 {
		return nil, nil
	}
	// RETURNING has no order: restore the delivery order.
	slices.SortFunc(rs, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.d.Priority, a.d.Priority), a.readyAt.Compare(b.readyAt), cmp.Compare(a.seq, b.seq))
	})
	out := make([]queue.Delivery, len(rs))
	for i, r := range rs {
		out[i] = r.d
	}
	return out, nil
}

// stale is ErrStaleReceipt for op, without the receipt (see its doc).
func stale(op string) error { return fmt.Errorf("queue/postgres: %s: %w", op, queue.ErrStaleReceipt) }

// Ack implements queue.Store.
func (s *Store) Ack(ctx context.Context, r queue.Receipt) error {
	rc, err := parseReceipt("ack", r)
	if err != nil {
		return err
	}
	var n int
	err = s.pool.QueryRow(ctx, `WITH d AS (
			DELETE FROM `+s.t.msgs+` m USING `+s.t.queues+` q
			WHERE m.id = $1 AND m.receipt = $2 AND q.name = m.queue AND q.retention = 0
			RETURNING 1
		), k AS (
			UPDATE `+s.t.msgs+` m SET acked_at = now(), receipt = NULL, locked_until = NULL
			FROM `+s.t.queues+` q
			WHERE m.id = $1 AND m.receipt = $2 AND q.name = m.queue AND q.retention > 0
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM k)`, rc.id, rc.token).Scan(&n)
	if err != nil {
		return wrap("ack", err)
	}
	if n == 0 {
		return stale("ack")
	}
	return nil
}

// Nack implements queue.Store.
func (s *Store) Nack(ctx context.Context, r queue.Receipt, delay time.Duration, cause error) (bool, error) {
	rc, err := parseReceipt("nack", r)
	if err != nil {
		return false, err
	}
	msg := ""
	if cause != nil {
		msg = cause.Error()
	}
	var (
		dead bool
		name string
	)
	err = s.pool.QueryRow(ctx, `UPDATE `+s.t.msgs+` m SET receipt = NULL, locked_until = NULL, last_error = $3,
			dead_at = CASE WHEN m.attempts >= q.max_attempts THEN now() END,
			available_at = now() + $2 * interval '1 microsecond'
		FROM `+s.t.queues+` q
		WHERE m.id = $1 AND m.receipt = $4 AND q.name = m.queue
		RETURNING m.dead_at IS NOT NULL, m.queue`, rc.id, micros(max(delay, 0)), msg, rc.token).Scan(&dead, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, stale("nack")
	}
	if err != nil {
		return false, wrap("nack", err)
	}
	if !dead && delay <= 0 {
		s.hint(name)
	}
	return dead, nil
}

// Extend implements queue.Store.
func (s *Store) Extend(ctx context.Context, r queue.Receipt, d time.Duration) (time.Time, error) {
	rc, err := parseReceipt("extend", r)
	if err != nil {
		return time.Time{}, err
	}
	var until time.Time
	err = s.pool.QueryRow(ctx, `UPDATE `+s.t.msgs+` SET locked_until = now() + $2 * interval '1 microsecond'
		WHERE id = $1 AND receipt = $3 RETURNING locked_until`, rc.id, micros(max(d, 0)), rc.token).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, stale("extend")
	}
	if err != nil {
		return time.Time{}, wrap("extend", err)
	}
	return until, nil
}

package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/internal/pgtext"
	"github.com/causewayhq/causeway/internal/sqlwhere"
)

const dlColumns = `id, subscription, partition, key, event_id, event_tx, event_pos, stream_id, version,
	event_type, blocked, error, attempts, first_failed_at, last_failed_at, next_attempt_at, retry_requested`

func scanDeadLetter(r pgx.CollectableRow) (DeadLetter, error) {
	var d DeadLetter
	var id [16]byte
	var next *time.Time
	err := r.Scan(&d.ID, &d.Subscription, &d.Partition, &d.Key, &id, &d.Position.TxID, &d.Position.Seq,
		&d.StreamID, &d.Version, &d.Type, &d.Blocked, &d.Error, &d.Attempts, &d.FirstFailedAt, &d.LastFailedAt, &next, &d.RetryRequested)
	d.EventID = id
	if next != nil {
		d.NextAttemptAt = *next
	}
	return d, err
}

// maxErrorText bounds a stored error (a panic's stack included).
const maxErrorText = 16 << 10

// storable makes a dead letter's free text storable: handler errors and
// panic values may hold NUL bytes or invalid UTF-8, which PostgreSQL refuses,
// and a dead letter that cannot be recorded would stall its partition.
func storable(dl DeadLetter) DeadLetter {
	dl.Error = pgtext.Truncate(pgtext.Sanitize(dl.Error), maxErrorText)
	dl.Key = pgtext.Sanitize(dl.Key)
	return dl
}

// nullTime is t, or NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// DeadLetters implements Store.
func (s *PostgresStore) DeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error) {
	var w sqlwhere.Builder
	if q.Subscription != "" {
		w.Add("subscription = $%d", q.Subscription)
	}
	if q.Partition != nil {
		w.Add("partition = $%d", *q.Partition)
	}
	if q.Key != "" {
		w.Add("key = $%d", q.Key)
	}
	if q.AfterID > 0 {
		w.Add("id > $%d", q.AfterID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	sql := `SELECT ` + dlColumns + ` FROM ` + s.t.dls + w.SQL() + fmt.Sprintf(` ORDER BY id LIMIT %d`, limit)
	return s.deadLetters(ctx, "list dead letters", sql, w.Args()...)
}

// deadLetters runs a query selecting dlColumns.
func (s *PostgresStore) deadLetters(ctx context.Context, op, sql string, args ...any) ([]DeadLetter, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	dls, err := pgx.CollectRows(rows, scanDeadLetter)
	if err != nil {
		return nil, wrap(op, err)
	}
	return dls, nil
}

// DeadLetter implements Store.
func (s *PostgresStore) DeadLetter(ctx context.Context, sub string, id int64) (DeadLetter, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+dlColumns+` FROM `+s.t.dls+` WHERE subscription = $1 AND id = $2`, sub, id)
	if err != nil {
		return DeadLetter{}, wrap("read dead letter", err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDeadLetter)
	if errors.Is(err, pgx.ErrNoRows) {
		return DeadLetter{}, fmt.Errorf("%w: dead letter %d of %q", ErrNotFound, id, sub)
	}
	if err != nil {
		return DeadLetter{}, wrap("read dead letter", err)
	}
	return d, nil
}

// CountDeadLetters implements Store.
func (s *PostgresStore) CountDeadLetters(ctx context.Context, sub string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.t.dls+` WHERE subscription = $1`, sub).Scan(&n); err != nil {
		return 0, wrap("count dead letters", err)
	}
	return n, nil
}

// BlockedKeys implements Store: one row per key, from its first dead letter
// in log order (the index dead_letters_key_order serves it).
func (s *PostgresStore) BlockedKeys(ctx context.Context, sub string, partition int) (map[string]BlockedKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT f.key, f.blocked, f.next_attempt_at,
			EXISTS (SELECT 1 FROM `+s.t.dls+` r WHERE r.subscription = $1 AND r.partition = $2 AND r.key = f.key AND r.retry_requested)
		FROM (SELECT DISTINCT ON (key) key, blocked, next_attempt_at FROM `+s.t.dls+`
		       WHERE subscription = $1 AND partition = $2
		       ORDER BY key, event_tx, event_pos) f`, sub, partition)
	if err != nil {
		return nil, wrap("blocked keys", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BlockedKey, error) {
		var (
			k      BlockedKey
			parked bool
			next   *time.Time
		)
		if err := r.Scan(&k.Key, &parked, &next, &k.RetryRequested); err != nil {
			return k, err
		}
		k.RetryAt = blockedRetryAt(parked, next)
		return k, nil
	})
	if err != nil {
		return nil, wrap("blocked keys", err)
	}
	out := make(map[string]BlockedKey, len(keys))
	for _, k := range keys {
		out[k.Key] = k
	}
	return out, nil
}

// blockedRetryAt is when a key whose first dead letter is as given is due:
// a parked event first means the failing one was discarded, so the rest
// flows again at once.
func blockedRetryAt(firstParked bool, next *time.Time) time.Time {
	switch {
	case firstParked:
		return time.Unix(0, 0)
	case next != nil:
		return *next
	}
	return time.Time{}
}

// KeyDeadLetters implements Store.
func (s *PostgresStore) KeyDeadLetters(ctx context.Context, sub string, partition int, key string) ([]DeadLetter, error) {
	return s.deadLetters(ctx, "key dead letters", `SELECT `+dlColumns+` FROM `+s.t.dls+`
		WHERE subscription = $1 AND partition = $2 AND key = $3
		ORDER BY event_tx, event_pos`, sub, partition, key)
}

// RequestRetry implements Store.
func (s *PostgresStore) RequestRetry(ctx context.Context, sub string, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE `+s.t.dls+` d SET retry_requested = true
		FROM `+s.t.dls+` x
		WHERE x.subscription = $1 AND x.id = $2
		  AND d.subscription = x.subscription AND d.partition = x.partition AND d.key = x.key`, sub, id)
	if err != nil {
		return wrap("request retry", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: dead letter %d of %q", ErrNotFound, id, sub)
	}
	s.announceRetry(ctx, sub)
	return nil
}

package checkpoint

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// BlockedKeysOf implements Store: as BlockedKeys, for the given keys (the
// index dead_letters_key_order serves each).
func (s *PostgresStore) BlockedKeysOf(ctx context.Context, sub string, partition int, keys []string) (map[string]BlockedKey, error) {
	out := make(map[string]BlockedKey, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT f.key, f.blocked, f.next_attempt_at,
			EXISTS (SELECT 1 FROM `+s.t.dls+` r WHERE r.subscription = $1 AND r.partition = $2 AND r.key = f.key AND r.retry_requested)
		FROM (SELECT DISTINCT ON (key) key, blocked, next_attempt_at FROM `+s.t.dls+`
		       WHERE subscription = $1 AND partition = $2 AND key = ANY($3)
		       ORDER BY key, event_tx, event_pos) f`, sub, partition, keys)
	if err != nil {
		return nil, wrap("blocked keys", err)
	}
	var (
		k      BlockedKey
		parked bool
		next   *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&k.Key, &parked, &next, &k.RetryRequested}, func() error {
		k.RetryAt = blockedRetryAt(parked, next)
		out[k.Key] = k
		return nil
	})
	if err != nil {
		return nil, wrap("blocked keys", err)
	}
	return out, nil
}

// RetryRequests implements Store through the partial index
// dead_letters_retry_requested: only flagged rows are read.
func (s *PostgresStore) RetryRequests(ctx context.Context, sub string) (map[int][]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT partition, key FROM `+s.t.dls+`
		WHERE subscription = $1 AND retry_requested`, sub)
	if err != nil {
		return nil, wrap("retry requests", err)
	}
	out := map[int][]string{}
	var (
		part int
		key  string
	)
	_, err = pgx.ForEachRow(rows, []any{&part, &key}, func() error {
		out[part] = append(out[part], key)
		return nil
	})
	if err != nil {
		return nil, wrap("retry requests", err)
	}
	return out, nil
}

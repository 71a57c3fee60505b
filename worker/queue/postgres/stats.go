package postgres

import (
	"context"
	"time"

	"github.com/causewayhq/causeway/worker/queue"
)

// Stats implements queue.Store.
func (s *Store) Stats(ctx context.Context, name string) (queue.Stats, error) {
	if _, err := s.config(ctx, s.pool, name); err != nil {
		return queue.Stats{}, err
	}
	var st queue.Stats
	var oldest int64
	err := s.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE dead_at IS NULL AND acked_at IS NULL),
			count(*) FILTER (WHERE dead_at IS NULL AND acked_at IS NULL AND greatest(available_at, locked_until) <= now()),
			count(*) FILTER (WHERE dead_at IS NULL AND acked_at IS NULL AND locked_until > now() AND receipt IS NOT NULL),
			count(*) FILTER (WHERE dead_at IS NOT NULL),
			coalesce(extract(epoch FROM now() - min(greatest(available_at, locked_until)) FILTER (
				WHERE dead_at IS NULL AND acked_at IS NULL AND greatest(available_at, locked_until) <= now())) * 1e6, 0)::bigint
		FROM `+s.t.msgs+` WHERE queue = $1`, name).Scan(&st.Depth, &st.Ready, &st.InFlight, &st.Dead, &oldest)
	if err != nil {
		return queue.Stats{}, wrap("stats", err)
	}
	st.OldestReadyAge = time.Duration(oldest) * time.Microsecond
	return st, nil
}

// Purge implements queue.Store.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	a, err := s.pool.Exec(ctx, `DELETE FROM `+s.t.msgs+` m USING `+s.t.queues+` q
		WHERE q.name = m.queue AND m.acked_at IS NOT NULL
			AND m.acked_at + q.retention * interval '1 microsecond' <= now()`)
	if err != nil {
		return 0, wrap("purge acked", err)
	}
	d, err := s.pool.Exec(ctx, `DELETE FROM `+s.t.dedup+` WHERE expires_at <= now()`)
	if err != nil {
		return 0, wrap("purge dedup keys", err)
	}
	return a.RowsAffected() + d.RowsAffected(), nil
}

package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// HorizonInfo describes what holds the log's visibility horizon back: the
// oldest transaction in the cluster that has an id and has not finished.
// Readers cannot pass it, so events committed after it started wait for it.
// `idle_in_transaction_session_timeout` is the backstop against forgotten
// sessions; see docs/operations.md.
type HorizonInfo struct {
	// Xmin is pg_snapshot_xmin(pg_current_snapshot()): rows with a smaller
	// tx_id are visible to readers.
	Xmin uint64
	// Held is false when no transaction with an id is open (nothing waits).
	Held bool
	// PID of the backend holding it (0 for a prepared transaction).
	PID int
	// XID is the 32-bit id of the oldest open transaction, as
	// pg_stat_activity.backend_xid shows it.
	XID uint64
	// Since is when that transaction started; Age is now − Since.
	Since time.Time
	Age   time.Duration
	// State is the backend's pg_stat_activity state ("idle in transaction",
	// "active", …) or "prepared" for a two-phase transaction.
	State string
	// Query is the backend's current or last statement, truncated.
	Query string
	// Database and Application identify the holder.
	Database    string
	Application string
}

// Horizon reports what holds the horizon back. It needs the privilege to see
// other sessions in pg_stat_activity (pg_read_all_stats) to name them.
func (s *Store) Horizon(ctx context.Context) (HorizonInfo, error) {
	var h HorizonInfo
	if err := s.pool.QueryRow(ctx, s.sql.horizon).Scan(&h.Xmin); err != nil {
		return h, s.wrap("read horizon", err)
	}
	var (
		pid             *int
		xid             *int64
		since           *time.Time
		state, q, db, a *string
	)
	err := s.pool.QueryRow(ctx, horizonHolderSQL).Scan(&pid, &xid, &since, &state, &q, &db, &a)
	if err == pgx.ErrNoRows {
		return h, nil
	}
	if err != nil {
		return h, s.wrap("read horizon holder", err)
	}
	h.Held = true
	if pid != nil {
		h.PID = *pid
	}
	if xid != nil {
		h.XID = uint64(*xid)
	}
	if since != nil {
		h.Since = *since
		h.Age = time.Since(*since)
	}
	for dst, src := range map[*string]*string{&h.State: state, &h.Query: q, &h.Database: db, &h.Application: a} {
		if src != nil {
			*dst = *src
		}
	}
	return h, nil
}

// horizonHolderSQL finds the oldest open transaction with an id, among
// sessions and prepared transactions. backend_xid is a 32-bit xid; age()
// orders them correctly across wraparound.
const horizonHolderSQL = `
SELECT pid, xid, since, state, query, datname, application_name FROM (
	SELECT a.pid, age(a.backend_xid) AS age, a.backend_xid::text::bigint AS xid,
	       a.xact_start AS since, a.state, left(a.query, 200) AS query,
	       a.datname::text AS datname, a.application_name
	  FROM pg_stat_activity a
	 WHERE a.backend_xid IS NOT NULL
	UNION ALL
	SELECT NULL, age(p.transaction), p.transaction::text::bigint,
	       p.prepared, 'prepared', p.gid, p.database::text, p.owner::text
	  FROM pg_prepared_xacts p
) h
ORDER BY age DESC
LIMIT 1`

package postgres

import (
	"context"
	"time"

	"github.com/causewayhq/causeway/eventlog"
)

// positionAtSQL finds, in one snapshot, the first visible event in log
// order recorded at or after $1 (f), the event before it (p) and, when
// there is no such event, the last visible one (hd). recorded_at has no
// index (appends would pay for it on every row): f walks the primary key
// from the start of the log and stops at the first match, so the cost
// grows with the number of events before the answer — a whole-log scan at
// worst, acceptable for an operator's one-off move.
func positionAtSQL(t string) string {
	return `SELECT f.tx_id IS NOT NULL, coalesce(p.tx_id, '0'), coalesce(p.position, 0),
			coalesce(hd.tx_id, '0'), coalesce(hd.position, 0)
		FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) h
		LEFT JOIN LATERAL (
			SELECT e.tx_id, e.position FROM ` + t + `.events e
			 WHERE e.tx_id < h.xmin AND e.recorded_at >= $1
			 ORDER BY e.tx_id, e.position LIMIT 1) f ON true
		LEFT JOIN LATERAL (
			SELECT e.tx_id, e.position FROM ` + t + `.events e
			 WHERE (e.tx_id, e.position) < (f.tx_id, f.position)
			 ORDER BY e.tx_id DESC, e.position DESC LIMIT 1) p ON true
		LEFT JOIN LATERAL (
			SELECT e.tx_id, e.position FROM ` + t + `.events e
			 WHERE e.tx_id < h.xmin
			 ORDER BY e.tx_id DESC, e.position DESC LIMIT 1) hd ON f.tx_id IS NULL`
}

// PositionAt implements eventlog.Store. Only visible events count: an
// event of a transaction still open when it runs is not considered.
func (s *Store) PositionAt(ctx context.Context, t time.Time) (eventlog.Position, error) {
	var (
		found        bool
		before, head eventlog.Position
	)
	err := s.pool.QueryRow(ctx, s.sql.positionAt, t).
		Scan(&found, &before.TxID, &before.Seq, &head.TxID, &head.Seq)
	if err != nil {
		return eventlog.Start, s.wrap("find position at "+t.Format(time.RFC3339Nano), err)
	}
	if found {
		return before, nil
	}
	return head, nil
}

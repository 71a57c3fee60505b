package postgres

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/eventlog"
)

// queries holds the store's SQL with the schema substituted once.
type queries struct {
	append string
	// appendNotify is append with a pg_notify($9, '') in the same
	// statement: the notification is sent when the append commits, never
	// if it does not (see notifier).
	appendNotify string
	// appendLocks and appendSet are the group commit's batch: sent together
	// in one round trip, one implicit transaction (see appendSetSQL).
	appendLocks    string
	appendSet      string
	appendSetNoIDs string
	// appendLean is the batch statement when no append names its ids
	// (appendlean.go); appendCurrent reads the versions its refused
	// appends report.
	appendLean    string
	appendCurrent string
	txIDsOf       string
	streamFwd     string
	streamBwd     string
	batch         [4]string // indexed by filterShape
	head          string
	count         [4]string
	horizon       string
	notify        string
	lastWriter    string
	positionAt    string
}

// filterShape selects a statement variant per filter, so that every variant
// keeps a plan of its own instead of one generic plan full of "$n IS NULL OR".
func filterShape(hasCategories, hasTypes bool) int {
	s := 0
	if hasCategories {
		s |= 1
	}
	if hasTypes {
		s |= 2
	}
	return s
}

// filterSQL renders a filter shape's conditions with parameters numbered
// from next; filterArgs supplies the matching arguments.
func filterSQL(shape, next int) string {
	var b strings.Builder
	if shape&1 != 0 {
		fmt.Fprintf(&b, " AND e.category = ANY ($%d::text[])", next)
		next++
	}
	if shape&2 != 0 {
		fmt.Fprintf(&b, " AND e.type = ANY ($%d::text[])", next)
	}
	return b.String()
}

func filterArgs(f eventlog.Filter, args ...any) (int, []any) {
	shape := filterShape(len(f.Categories) > 0, len(f.Types) > 0)
	if shape&1 != 0 {
		args = append(args, f.Categories)
	}
	if shape&2 != 0 {
		args = append(args, f.Types)
	}
	return shape, args
}

const eventColumns = `e.tx_id, e.position, e.event_id, e.stream_id, e.version, e.type, e.data, e.metadata, e.recorded_at`

func newQueries(schema string) queries {
	t := pgx.Identifier{schema}.Sanitize()
	q := queries{
		append: `SELECT o_code, o_version, o_positions, o_tx FROM ` + t + `.append_events($1, $2, $3, $4, $5, $6, $7, $8)`,
		appendNotify: `SELECT r.o_code, r.o_version, r.o_positions, r.o_tx FROM ` + t + `.append_events($1, $2, $3, $4, $5, $6, $7, $8) r,
			pg_notify($9, '') n`,
		txIDsOf: `SELECT position, tx_id FROM ` + t + `.events WHERE position = ANY ($1)`,
		streamFwd: `SELECT ` + eventColumns + ` FROM ` + t + `.events e
			WHERE e.stream_id = $1 AND e.version >= $2 ORDER BY e.version LIMIT $3`,
		streamBwd: `SELECT ` + eventColumns + ` FROM ` + t + `.events e
			WHERE e.stream_id = $1 AND e.version <= $2 ORDER BY e.version DESC LIMIT $3`,
		head: `SELECT e.tx_id, e.position FROM ` + t + `.events e
			WHERE e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
			ORDER BY e.tx_id DESC, e.position DESC LIMIT 1`,
		horizon: `SELECT pg_snapshot_xmin(pg_current_snapshot())`,
		notify:  `SELECT pg_notify($1, '')`,
	}
	q.positionAt = positionAtSQL(t)
	q.appendLocks, q.appendSet, q.appendSetNoIDs = appendSetSQL(t)
	q.appendLean, q.appendCurrent = appendLeanSQL(t), appendCurrentSQL(t)
	for shape := 0; shape < 4; shape++ {
		// One statement, one snapshot: the matching events after the cursor
		// below the horizon and, for a filtered read, the last row of any
		// kind below it (l), so a batch that is not full can move its cursor
		// past filtered-out rows to a committed row — never to the horizon
		// itself, whose ids crash recovery may hand out again. Both lateral
		// subqueries run once; l is one backward probe of the primary key,
		// returned even when no event qualifies (position -1: no row; the
		// event's columns are then NULL).
		// An unfiltered read needs no probe (when it is not full, the last
		// event it returns is that row), nor the joins: it is the plain
		// keyset scan with the horizon as one more index condition (the
		// stable function is evaluated once, at the scan's start). The
		// joins cost the server a fifth more per event in catch-up.
		q.batch[shape] = `SELECT ` + eventColumns + ` FROM ` + t + `.events e
			WHERE (e.tx_id, e.position) > ($1::xid8, $2::bigint)
			  AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
			ORDER BY e.tx_id, e.position
			LIMIT $3`
		if shape != 0 {
			q.batch[shape] = `SELECT coalesce(l.tx_id, '0'), coalesce(l.position, -1), ` + eventColumns + `
			FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) h
			LEFT JOIN LATERAL (
				SELECT e.tx_id, e.position FROM ` + t + `.events e
				WHERE e.tx_id < h.xmin
				ORDER BY e.tx_id DESC, e.position DESC
				LIMIT 1
			) l ON true
			LEFT JOIN LATERAL (
				SELECT * FROM ` + t + `.events e
				WHERE (e.tx_id, e.position) > ($1::xid8, $2::bigint) AND e.tx_id < h.xmin` + filterSQL(shape, 4) + `
				ORDER BY e.tx_id, e.position
				LIMIT $3
			) e ON true`
		}
		q.count[shape] = `SELECT count(*) FROM ` + t + `.events e
			WHERE (e.tx_id, e.position) > ($1::xid8, $2::bigint)
			  AND (e.tx_id, e.position) <= ($3::xid8, $4::bigint)
			  AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())` + filterSQL(shape, 5)
	}
	return q
}

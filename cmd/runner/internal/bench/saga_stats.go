package bench

import (
	"context"
	"fmt"
	"strings"
)

// statementStats reads pg_stat_statements when the server loads it (for
// diagnostics: --pg-set shared_preload_libraries=pg_stat_statements), so
// a saga run can log the statements it made per saga. Without the
// extension every call does nothing.
type statementStats struct {
	env     *Env
	commits int64
}

// reset clears the counters; it reports whether the extension is there.
func (s *statementStats) reset(ctx context.Context) bool {
	_ = s.env.Pool.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&s.commits)
	if _, err := s.env.Pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return false
	}
	_, err := s.env.Pool.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	return err == nil
}

// log writes the top statements by total time, per unit of work, to the
// environment's logger.
func (s *statementStats) log(ctx context.Context, label string, units int64) {
	if units <= 0 {
		return
	}
	var commits int64
	// The counters reach pg_stat_database when a backend's transaction
	// ends or it idles: close enough for a per-unit figure.
	if s.env.Pool.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&commits) == nil {
		s.env.Logger.Info("bench: commits", "run", label, "commits_per_unit", fmt.Sprintf("%.2f", float64(commits-s.commits)/float64(units)))
	}
	rows, err := s.env.Pool.Query(ctx, `SELECT calls, total_exec_time, wal_records, query FROM pg_stat_statements
		WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 15`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var (
			calls int64
			total float64
			wal   int64
			q     string
		)
		if rows.Scan(&calls, &total, &wal, &q) != nil {
			return
		}
		q = strings.Join(strings.Fields(q), " ")
		if len(q) > 140 {
			q = q[:140]
		}
		s.env.Logger.Info("bench: statement", "run", label, "calls_per_unit", fmt.Sprintf("%.2f", float64(calls)/float64(units)),
			"us_per_unit", fmt.Sprintf("%.1f", 1000*total/float64(units)), "us_per_call", fmt.Sprintf("%.1f", 1000*total/float64(max(calls, 1))),
			"wal_per_unit", fmt.Sprintf("%.2f", float64(wal)/float64(units)), "query", q)
	}
}

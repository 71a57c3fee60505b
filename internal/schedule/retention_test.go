package schedule

import (
	"fmt"
	"testing"
	"time"

	"github.com/causewayhq/causeway/checkpoint"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
	sagapg "github.com/causewayhq/causeway/saga/postgres"
)

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.pool.Exec(pgtest.Context(t, time.Minute), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (e *env) count(t *testing.T, category string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(pgtest.Context(t, time.Minute), `SELECT count(*) FROM `+e.schema+`.events WHERE category = $1`, category).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetentionJob: a retention policy is a built-in job that has the event
// log apply it on its schedule, with the stores' guards, and records what it
// deleted. 50 audit and 10 order events are two days old; a dead letter
// refers to audit-7. (What retention keeps is tested with the event log,
// eventlog/postgres's TestRetention.)
func TestRetentionJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	log, err := pgstore.New(e.pool, pgstore.Config{Schema: e.schema, DisableNotify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	cps, err := checkpoint.NewPostgres(e.pool, e.schema)
	if err != nil {
		t.Fatal(err)
	}
	sagas, err := sagapg.New(log)
	if err != nil {
		t.Fatal(err)
	}
	e.exec(t, `INSERT INTO `+e.schema+`.events (event_id, stream_id, version, type, data)
		SELECT gen_random_uuid(), c || '-' || g, 1, 'Happened', '{}'
		FROM generate_series(1, 50) g, unnest(ARRAY['audit', 'order']) c WHERE c = 'audit' OR g <= 10`)
	e.exec(t, `UPDATE `+e.schema+`.events SET recorded_at = now() - interval '48 hours'`)
	e.exec(t, `INSERT INTO `+e.schema+`.dead_letters (subscription, partition, key, event_id, event_tx, event_pos, stream_id,
		version, event_type, error, attempts, first_failed_at, last_failed_at)
		SELECT 's', 0, stream_id, event_id, tx_id, position, stream_id, 1, 'Happened', 'boom', 3, now(), now()
		FROM `+e.schema+`.events WHERE stream_id = 'audit-7'`)

	p := RetentionPolicy{Category: "audit", MaxAge: 24 * time.Hour, Schedule: "@every 1s"}
	e.start(t, "s1", Config{Retention: []RetentionPolicy{p}, Log: log,
		Guards: []pgstore.RetentionGuard{cps.RetentionGuard(), sagas.RetentionGuard()}})
	waitFor(t, 10*time.Second, "the retention job to run", func() bool { return e.state(t, p.JobName()).Runs >= 1 })
	st := e.state(t, p.JobName())
	if want := fmt.Sprintf("deleted %d events in %d batches", 49, 1); st.LastStatus != StatusOK || st.LastResult != want {
		t.Errorf("retention job state %+v, want result %q", st, want)
	}
	if n := e.count(t, "audit"); n != 1 {
		t.Errorf("%d audit events left after the scheduled retention, want the dead letter's", n)
	}
	if n := e.count(t, "order"); n != 10 {
		t.Errorf("the audit policy touched orders: %d left", n)
	}
}

// TestRetentionNeedsLog: retention policies without the event log that
// applies them are refused by New.
func TestRetentionNeedsLog(t *testing.T) {
	e := newEnv(t)
	_, err := New(Config{Pool: e.pool, Schema: e.schema, Retention: []RetentionPolicy{{Category: "audit", MaxAge: time.Hour}}})
	if err == nil {
		t.Fatal("New accepted retention policies without Config.Log")
	}
}

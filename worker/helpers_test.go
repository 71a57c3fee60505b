package worker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/internal/pgembed"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/worker"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	pgtest.Main(m)
}

// env is one test's database schema with an event store, a checkpoint store
// and a read-model table.
type env struct {
	schema string
	url    string
	pool   *pgxpool.Pool
	log    *pgstore.Store
	cps    *checkpoint.PostgresStore
}

func newEnv(t testing.TB) *env {
	t.Helper()
	schema, pool := pgtest.NewSchema(t)
	return setupEnv(t, pgtest.URL(t), schema, pool)
}

// newClusterEnv is an env on a dedicated cluster, for tests that stop, crash
// or restart PostgreSQL.
func newClusterEnv(t testing.TB) (*pgembed.Cluster, *env) {
	t.Helper()
	cluster := pgtest.StartCluster(t)
	url := cluster.URL("")
	pool, err := pgxpool.New(pgtest.Context(t, time.Minute), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return cluster, setupEnv(t, url, "causeway", pool)
}

func setupEnv(t testing.TB, url, schema string, pool *pgxpool.Pool) *env {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	if _, err := migrations.Apply(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, readModelDDL(schema)); err != nil {
		t.Fatal(err)
	}
	e := &env{schema: schema, url: url, pool: pool}
	var err error
	if e.log, err = pgstore.New(pool, pgstore.Config{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.log.Close)
	if e.cps, err = checkpoint.NewPostgres(pool, schema); err != nil {
		t.Fatal(err)
	}
	return e
}

func readModelDDL(schema string) string {
	return `CREATE TABLE IF NOT EXISTS ` + schema + `.read_model (
		stream text PRIMARY KEY, events int NOT NULL, total bigint NOT NULL, last_version bigint NOT NULL)`
}

type amount struct {
	N int64 `json:"n"`
}

func (amount) EventType() string { return "Amount" }

// readModelHandler folds events into read_model inside the delivery's
// transaction and refuses any event that is not the next version of its
// stream: a duplicate or a reordering fails loudly (permanently).
func readModelHandler(schema string) worker.Handler {
	return func(ctx context.Context, d *worker.Delivery) error {
		a, err := eventlog.Decode[amount](d.Event)
		if err != nil {
			return worker.Permanent(err)
		}
		return applyReadModel(ctx, d.Tx, schema, d.Event, a.Data)
	}
}

func applyReadModel(ctx context.Context, tx pgx.Tx, schema string, e eventlog.Event, a amount) error {
	tag, err := tx.Exec(ctx, `UPDATE `+schema+`.read_model SET events = events + 1, total = total + $2, last_version = $3
		WHERE stream = $1 AND last_version = $3 - 1`, e.StreamID, a.N, e.Version)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if e.Version == 1 {
		_, err := tx.Exec(ctx, `INSERT INTO `+schema+`.read_model VALUES ($1, 1, $2, 1)`, e.StreamID, a.N)
		return err
	}
	var last int64
	_ = tx.QueryRow(ctx, `SELECT last_version FROM `+schema+`.read_model WHERE stream = $1`, e.StreamID).Scan(&last)
	return worker.Permanent(fmt.Errorf("stream %s: version %d applied after %d", e.StreamID, e.Version, last))
}

type rmRow struct {
	Events      int
	Total       int64
	LastVersion int64
}

func (e *env) readModel(t testing.TB) map[string]rmRow {
	t.Helper()
	rows, err := e.pool.Query(pgtest.Context(t, time.Minute), `SELECT stream, events, total, last_version FROM `+e.schema+`.read_model`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]rmRow{}
	for rows.Next() {
		var s string
		var r rmRow
		if err := rows.Scan(&s, &r.Events, &r.Total, &r.LastVersion); err != nil {
			t.Fatal(err)
		}
		out[s] = r
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	return out
}

// fold is the read model computed sequentially from the log.
// readModelEvents is how many events the read model has counted.
func (e *env) readModelEvents(t testing.TB) int {
	n := 0
	for _, r := range e.readModel(t) {
		n += r.Events
	}
	return n
}

func (e *env) fold(t testing.TB, filter eventlog.Filter) map[string]rmRow {
	t.Helper()
	out := map[string]rmRow{}
	for ev, err := range e.log.ReadAll(pgtest.Context(t, time.Minute), eventlog.Start, filter) {
		if err != nil {
			t.Fatal(err)
		}
		var a amount
		if err := jsonUnmarshal(ev.Data, &a); err != nil {
			t.Fatal(err)
		}
		r := out[ev.StreamID]
		r.Events++
		r.Total += a.N
		r.LastVersion = ev.Version
		out[ev.StreamID] = r
	}
	return out
}

func compareModels(t testing.TB, got, want map[string]rmRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("read model has %d streams, the log %d", len(got), len(want))
	}
	bad := 0
	for s, w := range want {
		if g := got[s]; g != w {
			if bad++; bad <= 10 {
				t.Errorf("stream %s: read model %+v, log fold %+v", s, g, w)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d streams differ", bad)
	}
}

// appendEvents appends n events of amount i to streams chosen round-robin.
func appendEvents(t testing.TB, s eventlog.Store, category string, streams, n int) {
	t.Helper()
	ctx := pgtest.Context(t, 5*time.Minute)
	for i := 0; i < n; i++ {
		ev, _ := eventlog.NewEvent("Amount", amount{N: int64(i)})
		if _, err := s.Append(ctx, fmt.Sprintf("%s-%d", category, i%streams), eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// appendBatches appends n events in batches of up to 50 per stream append.
func appendBatches(ctx context.Context, s eventlog.Store, category string, streams, n, batch int) error {
	for i := 0; i < n; {
		k := min(batch, n-i)
		evs := make([]eventlog.EventData, k)
		for j := range evs {
			evs[j], _ = eventlog.NewEvent("Amount", amount{N: int64(i + j)})
		}
		if _, err := s.Append(ctx, fmt.Sprintf("%s-%d", category, (i/batch)%streams), eventlog.Any, evs...); err != nil {
			return err
		}
		i += k
	}
	return nil
}

// running is a worker running in the background.
type running struct {
	w      *worker.Worker
	cancel context.CancelFunc
	done   chan error
}

func startWorker(t testing.TB, cfg worker.Config, subs ...worker.Subscription) *running {
	t.Helper()
	w, err := worker.New(cfg, subs...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("worker did not stop within 30 s")
	}
}

func (e *env) config(member string) worker.Config {
	return worker.Config{Log: e.log, Checkpoints: e.cps, MemberID: member, LeaseTTL: 3 * time.Second}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// caughtUp reports whether every partition's checkpoint has reached the head.
func caughtUp(t testing.TB, log eventlog.Store, cps checkpoint.Store, sub string) bool {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	head, err := log.Head(ctx)
	if err != nil {
		return false
	}
	parts, err := cps.Partitions(ctx, sub)
	if err != nil || len(parts) == 0 {
		return false
	}
	for _, p := range parts {
		n, err := log.CountBetween(ctx, p.Checkpoint, head, eventlog.Filter{})
		if err != nil || n > 0 {
			return false
		}
	}
	return true
}

func dlQuery(sub string) checkpoint.DeadLetterQuery {
	return checkpoint.DeadLetterQuery{Subscription: sub}
}

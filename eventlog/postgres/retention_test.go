package postgres_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog/postgres"
	sagapg "github.com/causewayhq/causeway/saga/postgres"
)

// retentionEnv is a store in a fresh schema, with its pool and schema for
// the fixture's SQL.
type retentionEnv struct {
	store  *postgres.Store
	pool   *pgxpool.Pool
	schema string
}

type storedEvent struct {
	tx  uint64
	pos int64
	id  uuid.UUID
}

// orderEvents lists the "order" events in global order; ordinal n (from 1)
// is the n-th appended.
func (e *retentionEnv) orderEvents(t *testing.T) map[int]storedEvent {
	t.Helper()
	rows, err := e.pool.Query(testCtx(t), `SELECT tx_id, position, event_id, split_part(stream_id, '-', 2)::int
		FROM `+e.schema+`.events WHERE category = 'order' ORDER BY tx_id, position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]storedEvent{}
	for rows.Next() {
		var ev storedEvent
		var n int
		if err := rows.Scan(&ev.tx, &ev.pos, &ev.id, &n); err != nil {
			t.Fatal(err)
		}
		out[n] = ev
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *retentionEnv) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.pool.Exec(testCtx(t), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (e *retentionEnv) count(t *testing.T, category string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(testCtx(t), `SELECT count(*) FROM `+e.schema+`.events WHERE category = $1`, category).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// ordinals returns the sorted ordinals of the remaining order events.
func ordinals(m map[int]storedEvent) []int {
	var out []int
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func span(from, to int) []int {
	var out []int
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}

// TestRetention: order-1 … order-300 interleaved with 50 audit events; the
// first 200 orders and every audit event are two days old. A subscription's
// slowest partition stands at order-150; a dead letter refers to order-10
// and a saga inbox to order-20.
func TestRetention(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t, postgres.Config{DisableNotify: true})
	e := &retentionEnv{store: store, pool: pool, schema: store.Schema()}
	ctx := testCtx(t)
	ev := `INSERT INTO ` + e.schema + `.events (event_id, stream_id, version, type, data)
		SELECT gen_random_uuid(), $1 || '-' || g, 1, 'Happened', '{}' FROM generate_series($2::int, $3::int) g`
	for _, b := range []struct {
		cat      string
		from, to int
	}{{"order", 1, 100}, {"audit", 1, 25}, {"order", 101, 200}, {"audit", 26, 50}, {"order", 201, 300}} {
		e.exec(t, ev, b.cat, b.from, b.to) // one transaction each: distinct tx ids
	}
	all := e.orderEvents(t)
	if len(all) != 300 {
		t.Fatalf("%d order events", len(all))
	}
	e.exec(t, `UPDATE `+e.schema+`.events SET recorded_at = now() - interval '48 hours'
		WHERE category = 'audit' OR (category = 'order' AND (tx_id, position) <= ($1, $2))`, all[200].tx, all[200].pos)
	e.exec(t, `INSERT INTO `+e.schema+`.subscriptions (name, partitions) VALUES ('s', 2)`)
	e.exec(t, `INSERT INTO `+e.schema+`.partitions (subscription, partition, tx_id, position) VALUES ('s', 0, $1, $2), ('s', 1, $3, $4)`,
		all[150].tx, all[150].pos, all[250].tx, all[250].pos)
	e.exec(t, `INSERT INTO `+e.schema+`.dead_letters (subscription, partition, key, event_id, event_tx, event_pos, stream_id,
		version, event_type, error, attempts, first_failed_at, last_failed_at)
		VALUES ('s', 0, 'order-10', $1, $2, $3, 'order-10', 1, 'Happened', 'boom', 3, now(), now())`, all[10].id, all[10].tx, all[10].pos)
	e.exec(t, `INSERT INTO `+e.schema+`.saga_inbox (saga_type, correlation_id, event_id, event_type, event_tx, event_pos)
		VALUES ('shipping', 'c-20', $1, 'Happened', $2, $3)`, all[20].id, all[20].tx, all[20].pos)

	guards := e.guards(t)
	apply := func(step string, p postgres.Retention, deleted int64, batches int, remain []int) {
		t.Helper()
		p.Category, p.BatchSize = "order", 40
		res, err := e.store.ApplyRetention(ctx, p, guards...)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if res.Deleted != deleted || res.Batches != batches {
			t.Errorf("%s: deleted %d in %d batches, want %d in %d", step, res.Deleted, res.Batches, deleted, batches)
		}
		if got := ordinals(e.orderEvents(t)); !slices.Equal(got, remain) {
			t.Errorf("%s: remaining orders %v,\nwant %v", step, got, remain)
		}
		if n := e.count(t, "audit"); n != 50 {
			t.Errorf("%s: %d audit events left, want all 50", step, n)
		}
	}
	day := 24 * time.Hour

	// Old and processed by every partition, except those still referenced.
	kept := append([]int{10, 20}, span(151, 300)...)
	apply("max age", postgres.Retention{MaxAge: day}, 148, 4, kept)
	// Beyond the newest 100, but not yet processed or still referenced.
	apply("max count", postgres.Retention{MaxCount: 100}, 0, 0, kept)
	// Force ignores checkpoints and references.
	apply("max age, forced", postgres.Retention{MaxAge: day, Force: true}, 52, 2, span(201, 300))
	// Once every partition has processed everything, the count limit applies.
	e.exec(t, `UPDATE `+e.schema+`.partitions SET tx_id = $1, position = $2`, all[300].tx, all[300].pos)
	apply("max count, caught up", postgres.Retention{MaxCount: 60}, 40, 1, span(241, 300))

	// A retention it cannot apply is refused before anything is deleted.
	for _, p := range []postgres.Retention{{Category: "order"}, {MaxAge: day}, {Category: "order", MaxCount: 10, BatchSize: -1}} {
		if _, err := e.store.ApplyRetention(ctx, p, guards...); err == nil {
			t.Errorf("ApplyRetention(%+v) = nil error", p)
		}
	}
	if got := ordinals(e.orderEvents(t)); !slices.Equal(got, span(241, 300)) {
		t.Errorf("a refused retention deleted events: %v left", got)
	}
}

// guards are the checkpoint and saga stores' retention guards on e's schema.
func (e *retentionEnv) guards(t *testing.T) []postgres.RetentionGuard {
	t.Helper()
	cps, err := checkpoint.NewPostgres(e.pool, e.schema)
	if err != nil {
		t.Fatal(err)
	}
	sagas, err := sagapg.New(e.store)
	if err != nil {
		t.Fatal(err)
	}
	return []postgres.RetentionGuard{cps.RetentionGuard(), sagas.RetentionGuard()}
}

package migrations_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/internal/migrations"
	"github.com/causewayhq/causeway/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestConcurrentApply runs migrations from many goroutines at once against an
// empty database: every call succeeds, each migration is applied exactly
// once, and a later call has nothing to do.
func TestConcurrentApply(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := pgtest.NewDatabase(t)
	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, schema := range []string{migrations.DefaultSchema, "tenant_b"} {
		const callers = 8
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			applied []int
			errs    []error
		)
		for i := 0; i < callers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Separate pools, as separate processes would have.
				pool, err := pgxpool.New(ctx, url)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				defer pool.Close()
				got, err := migrations.Apply(ctx, pool, schema)
				mu.Lock()
				defer mu.Unlock()
				applied = append(applied, got...)
				if err != nil {
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("schema %s: %v", schema, errs)
		}
		slices.Sort(applied)
		if len(applied) != len(all) {
			t.Fatalf("schema %s: applied %v, want each of %d migrations once", schema, applied, len(all))
		}
		for i, v := range applied {
			if v != i+1 {
				t.Fatalf("schema %s: applied %v", schema, applied)
			}
		}
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		again, err := migrations.Apply(ctx, pool, schema)
		if err != nil || len(again) != 0 {
			t.Fatalf("second apply: %v, %v", again, err)
		}
		v, err := migrations.Version(ctx, pool, schema)
		if err != nil || v != len(all) {
			t.Fatalf("version = %d, %v", v, err)
		}
		var rows int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.schema_migrations`).Scan(&rows); err != nil || rows != len(all) {
			t.Fatalf("version table has %d rows, %v", rows, err)
		}
		pool.Close()
	}
}

func TestRejectsBadSchemaAndNewerDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	schema, pool := pgtest.NewSchema(t)
	for _, bad := range []string{"", "Upper", "1abc", "semi;colon", "a-b", string(make([]byte, 70))} {
		if _, err := migrations.Apply(ctx, pool, bad); !errors.Is(err, migrations.ErrInvalidSchema) {
			t.Errorf("schema %q: err = %v", bad, err)
		}
	}
	if v, err := migrations.Version(ctx, pool, schema); err != nil || v != 0 {
		t.Fatalf("unmigrated version = %d, %v", v, err)
	}
	if _, err := migrations.Apply(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO `+schema+`.schema_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Apply(ctx, pool, schema); !errors.Is(err, migrations.ErrDatabaseNewer) {
		t.Fatalf("newer database: err = %v", err)
	}
}

// TestHorizonCheckpointsMovedBack: migration 0008 moves checkpoints stored
// at a read's horizon (which crash recovery can undercut) back to the last
// event at or before them, and leaves the others alone.
func TestHorizonCheckpointsMovedBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	schema, pool := pgtest.NewSchema(t)
	if _, err := migrations.Apply(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	var tx1, tx2 uint64
	var pos1, pos2 int64
	for i, dst := range []struct {
		tx  *uint64
		pos *int64
	}{{&tx1, &pos1}, {&tx2, &pos2}} {
		err := pool.QueryRow(ctx, `INSERT INTO `+schema+`.events (event_id, stream_id, version, type, data)
			VALUES (gen_random_uuid(), 'm-1', $1, 'T', '{}') RETURNING tx_id::text::bigint, position`, i+1).Scan(dst.tx, dst.pos)
		if err != nil {
			t.Fatal(err)
		}
	}
	const maxSeq = 9223372036854775807
	if _, err := pool.Exec(ctx, `INSERT INTO `+schema+`.subscriptions (name, partitions) VALUES ('s', 4)`); err != nil {
		t.Fatal(err)
	}
	// 0: a horizon past both events; 1: a horizon between them; 2: a row's
	// position (kept); 3: a horizon before any event.
	for p, cp := range [][2]any{{tx2 + 5, int64(maxSeq)}, {tx2 - 1, int64(maxSeq)}, {tx1, pos1}, {tx1 - 1, int64(maxSeq)}} {
		if _, err := pool.Exec(ctx, `INSERT INTO `+schema+`.partitions (subscription, partition, tx_id, position)
			VALUES ('s', $1, $2::bigint::text::xid8, $3)`, p, cp[0], cp[1]); err != nil {
			t.Fatal(err)
		}
	}
	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	m := all[slices.IndexFunc(all, func(m migrations.Migration) bool { return m.Name == "checkpoints_at_rows" })]
	if _, err := pool.Exec(ctx, m.SQL(schema)); err != nil {
		t.Fatal(err)
	}
	want := [][2]any{{tx2, pos2}, {tx1, pos1}, {tx1, pos1}, {uint64(0), int64(0)}}
	for p, w := range want {
		var tx uint64
		var pos int64
		if err := pool.QueryRow(ctx, `SELECT tx_id::text::bigint, position FROM `+schema+`.partitions
			WHERE subscription = 's' AND partition = $1`, p).Scan(&tx, &pos); err != nil {
			t.Fatal(err)
		}
		if tx != w[0].(uint64) || pos != w[1].(int64) {
			t.Errorf("partition %d: checkpoint %d/%d, want %v/%v", p, tx, pos, w[0], w[1])
		}
	}
}

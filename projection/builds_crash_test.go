package projection_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
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
	"github.com/causewayhq/causeway/projection"
)

// TestRebuildSurvivesPostgresCrashes: PostgreSQL is killed (SIGKILL,
// crash recovery on restart) twice during a blue/green rebuild while
// events keep coming (the second time, appends made after the first
// recovery are in flight). The switch happens after all; the live view
// ends with every event exactly once, of version 2 only; a reader never
// saw it go back or mix versions; neither build dead-lettered anything.
// (The items projection turns a duplicate or a skipped event into a dead
// letter.) A crash inside the switch's own transaction is
// TestRebuildSwitchSurvivesACrashInItsTransaction.
func TestRebuildSurvivesPostgresCrashes(t *testing.T) {
	cluster, e, ctx := startItemsOnCluster(t)
	live := "items_live"

	// A reader runs throughout; reads failing while PostgreSQL is down
	// are expected, what a read returns must never go back or mix.
	reader := e.watchLive(ctx, live, true)

	v2 := itemsProjection("items", live, 2)
	b2 := e.builds(t, "new", time.Hour, v2)
	runBuilds(t, b2)
	appendRetrying := func(stream string, n int) { e.appendRetrying(ctx, t, stream, n) }
	state := func(n int) projection.BuildState { return buildState(ctx, b2, n) }
	waitFor(t, "build 2 started", func() bool { return state(2) == projection.BuildBuilding })
	crash := func(why string) {
		t.Helper()
		if err := cluster.Crash(); err != nil {
			t.Fatalf("crash %s: %v", why, err)
		}
		if err := cluster.Restart(ctx); err != nil {
			t.Fatalf("restart after crash %s: %v", why, err)
		}
	}
	crash("while build 2 catches up")
	appendRetrying("item-late", 20) // events keep coming through the recovery
	crash("again, with appends after the first recovery")
	appendRetrying("item-late", 20)
	appended := int64(600 + 40)
	waitFor(t, "build 2 live", func() bool { return state(2) == projection.BuildLive && state(1) == projection.BuildRetired })
	e.checkSwitchedOnce(ctx, t, live, appended, reader)
}

// startItemsOnCluster starts a dedicated cluster (for crashes) with build 1
// of the items projection live on 600 events in items_live.
func startItemsOnCluster(t *testing.T) (*pgembed.Cluster, *env, context.Context) {
	t.Helper()
	cluster := pgtest.StartCluster(t)
	ctx := pgtest.Context(t, 3*time.Minute)
	pool, err := pgxpool.New(ctx, cluster.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := &env{schema: "causeway", pool: pool}
	if _, err := migrations.Apply(ctx, pool, e.schema); err != nil {
		t.Fatal(err)
	}
	if e.log, err = pgstore.New(pool, pgstore.Config{Schema: e.schema}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.log.Close)
	if e.cps, err = checkpoint.NewPostgres(pool, e.schema); err != nil {
		t.Fatal(err)
	}
	live := "items_live"
	b1 := e.builds(t, "old", time.Hour, itemsProjection("items", live, 1))
	runBuilds(t, b1)
	e.appendTicks(t, 40, 600)
	waitFor(t, "build 1 live with every event", func() bool {
		s, err := e.readLive(ctx, live)
		return err == nil && s.events == 600 && s.version == 1
	})
	return cluster, e, ctx
}

// appendRetrying appends n ticks to stream, retrying through restarts.
func (e *env) appendRetrying(ctx context.Context, t *testing.T, stream string, n int) {
	t.Helper()
	for i := range n {
		ev, _ := eventlog.NewEvent("Tick", tick{N: int64(i)})
		for {
			_, err := e.log.Append(ctx, stream, eventlog.Any, ev)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // the pool reconnects after a restart
		}
	}
}

// buildState is build n's state of the items projection ("" if unknown,
// e.g. while PostgreSQL is down).
func buildState(ctx context.Context, b *projection.Builds, n int) projection.BuildState {
	bs, err := b.List(ctx, "items")
	if err != nil {
		return ""
	}
	for _, bl := range bs {
		if bl.Build == n {
			return bl.State
		}
	}
	return ""
}

// TestRebuildSwitchSurvivesACrashInItsTransaction: PostgreSQL is killed
// inside the switch's transaction, once the old build is fenced, the new
// one's effects released, the views re-created and the states moved, just
// before the commit. After crash recovery nothing of that attempt shows
// (when the switch is tried again, build 1 is still live and build 2
// building); the switch then happens, and the live view ends with every
// event exactly once, of version 2 only, never going back or mixing
// versions for a reader, with no dead letters in either build.
func TestRebuildSwitchSurvivesACrashInItsTransaction(t *testing.T) {
	cluster, e, ctx := startItemsOnCluster(t)
	live := "items_live"
	reader := e.watchLive(ctx, live, true)

	b2 := e.builds(t, "new", time.Hour, itemsProjection("items", live, 2))
	var (
		calls   atomic.Int32
		crashed = make(chan error, 1)
	)
	projection.SetBeforeSwitchCommit(b2, func(ctx context.Context) {
		switch calls.Add(1) {
		case 1:
			crashed <- cluster.Crash()
		default:
			// The retried switch, inside its transaction: what the first
			// attempt wrote must not have survived the crash. The
			// builds' committed rows are read on a connection of the
			// test's own, not the pool's: the pool's may all be held by
			// sessions waiting for this transaction's locks (a reader of
			// the re-created views, the build workers' checkpoints), and
			// a read waiting for one of them would wait forever.
			if s1, s2 := committedBuildStates(ctx, t, cluster, e.schema); s1 != projection.BuildLive || s2 != projection.BuildBuilding {
				t.Errorf("retried switch: builds 1 and 2 are %q and %q, want live and building", s1, s2)
			}
		}
	})
	runBuilds(t, b2)
	select {
	case err := <-crashed:
		if err != nil {
			t.Fatalf("crash inside the switch: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the switch was never tried")
	}
	if err := cluster.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	e.appendRetrying(ctx, t, "item-late", 20)
	waitFor(t, "build 2 live", func() bool {
		return buildState(ctx, b2, 2) == projection.BuildLive && buildState(ctx, b2, 1) == projection.BuildRetired
	})
	if n := calls.Load(); n < 2 {
		t.Fatalf("switch tried %d times, want a retry after the crash", n)
	}
	e.checkSwitchedOnce(ctx, t, live, 620, reader)
}

// checkSwitchedOnce checks the end of a rebuild of the items projection
// through crashes: the live view comes to hold every one of the appended
// events once, of version 2 only (41 rows); the reader saw version 2 and
// never a step back or a mix (stop's error); neither build dead-lettered
// anything.
func (e *env) checkSwitchedOnce(ctx context.Context, t *testing.T, live string, appended int64, reader *liveWatch) {
	t.Helper()
	waitFor(t, "every event in the live view", func() bool {
		s, err := e.readLive(ctx, live)
		return err == nil && s.events == appended && s.version == 2
	})
	if err := reader.stop(); err != nil {
		t.Fatal(err)
	}
	if reader.reads.Load() < 10 || !reader.sawVersion(2) {
		t.Fatalf("the reader read %d times, saw version 2: %v", reader.reads.Load(), reader.sawVersion(2))
	}
	s, err := e.readLive(ctx, live)
	if err != nil || s.rows != 41 || s.versions != 1 {
		t.Fatalf("live view: %+v, %v; want 41 rows of one version", s, err)
	}
	for _, sub := range []string{"items#1", "items#2"} {
		if n, err := e.cps.CountDeadLetters(ctx, sub); err != nil || n != 0 {
			t.Fatalf("%s: %d dead letters (%v)", sub, n, err)
		}
	}
}

// deadLetterSummary names the subscriptions' dead letters, for a failure
// message.
func (e *env) deadLetterSummary(ctx context.Context, subs ...string) string {
	var b strings.Builder
	for _, sub := range subs {
		dls, err := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: sub})
		fmt.Fprintf(&b, "%s: %d dead letters (%v)", sub, len(dls), err)
		for _, d := range dls {
			fmt.Fprintf(&b, "; %s v%d: %s", d.StreamID, d.Version, d.Error)
		}
		b.WriteString(". ")
	}
	return b.String()
}

// committedBuildStates reads the committed states of builds 1 and 2 of the
// items projection on a connection of its own.
func committedBuildStates(ctx context.Context, t *testing.T, cluster *pgembed.Cluster, schema string) (s1, s2 projection.BuildState) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, cluster.URL(""))
	if err != nil {
		t.Errorf("read the builds: %v", err)
		return "", ""
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT build, state FROM `+pgx.Identifier{schema, "projection_builds"}.Sanitize()+`
		WHERE projection = 'items' AND build IN (1, 2)`)
	if err != nil {
		t.Errorf("read the builds: %v", err)
		return "", ""
	}
	defer rows.Close()
	for rows.Next() {
		var (
			build int
			state string
		)
		if err := rows.Scan(&build, &state); err != nil {
			t.Errorf("read the builds: %v", err)
			return "", ""
		}
		if build == 1 {
			s1 = projection.BuildState(state)
		} else {
			s2 = projection.BuildState(state)
		}
	}
	if err := rows.Err(); err != nil {
		t.Errorf("read the builds: %v", err)
	}
	return s1, s2
}

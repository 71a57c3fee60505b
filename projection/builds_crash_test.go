package projection_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/migrations"
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
// letter.) Not covered: a crash inside the switch's own transaction,
// which a test cannot reliably catch waiting without a hook.
func TestRebuildSurvivesPostgresCrashes(t *testing.T) {
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

	// A reader runs throughout; reads failing while PostgreSQL is down
	// are expected, what a read returns must never go back or mix.
	reader := e.watchLive(ctx, live, true)

	v2 := itemsProjection("items", live, 2)
	b2 := e.builds(t, "new", time.Hour, v2)
	runBuilds(t, b2)
	appendRetrying := func(stream string, n int) {
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
	state := func(n int) projection.BuildState {
		bs, err := b2.List(ctx, "items")
		if err != nil {
			return ""
		}
		for _, b := range bs {
			if b.Build == n {
				return b.State
			}
		}
		return ""
	}
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

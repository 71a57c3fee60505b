package projection_test

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	pgstore "github.com/causewayhq/causeway/eventlog/postgres"
	"github.com/causewayhq/causeway/internal/pgtest"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
)

const buildsChildEnv = "CW_BUILDS_CHILD"

// runBuildsChild is a runner of the version 2 code, run in a child process
// until it is killed: it builds version 2, slowly (2 ms per event).
func runBuildsChild(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	log, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		return err
	}
	defer log.Close()
	cps, err := checkpoint.NewPostgres(pool, schema)
	if err != nil {
		return err
	}
	p := heldItemsProjection("items", os.Getenv("CW_LIVE"), 2, func(string) { time.Sleep(2 * time.Millisecond) })
	b, err := projection.NewBuilds(projection.BuildsConfig{Pool: pool, Schema: schema, Log: log, Checkpoints: cps,
		Projections: []*projection.Projection{p}, By: "child", Interval: 100 * time.Millisecond,
		Worker: worker.Config{MemberID: "child", LeaseTTL: time.Second}})
	if err != nil {
		return err
	}
	return b.Run(ctx)
}

// TestRebuildSurvivesSIGKILL: the runner rebuilding a projection is killed
// with SIGKILL mid-rebuild; another runner continues the build from its
// checkpoints (not from the start) once the leases expire, and switches to
// it; the read model is exact (the handler refuses a duplicate or a gap).
func TestRebuildSurvivesSIGKILL(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	live := e.schema + "_items"
	const total = 3000
	e.appendTicks(t, 40, total)
	b1 := e.builds(t, "old", time.Hour, itemsProjection("items", live, 1))
	runBuilds(t, b1)
	waitFor(t, "build 1 live", func() bool {
		s, err := e.readLive(ctx, live)
		return err == nil && s.events == total
	})

	child := pgtest.SpawnSelf(t, "rebuilder", buildsChildEnv+"=1", "DATABASE_URL="+pgtest.URL(t), "CW_SCHEMA="+e.schema, "CW_LIVE="+live)
	// Mid-rebuild: build 2 exists and some of its checkpoints have moved.
	var before []checkpoint.PartitionState
	waitFor(t, "the child's rebuild under way", func() bool {
		ps, err := e.cps.Partitions(ctx, "items#2")
		moved := 0
		for _, p := range ps {
			if !p.Checkpoint.IsZero() {
				moved++
			}
		}
		before = ps
		return err == nil && len(ps) == 4 && moved == 4
	})
	if err := child.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-child.Done
	if bs := buildsByNumber(t, b1, "items"); bs[2].State != projection.BuildBuilding {
		t.Fatalf("build 2 after the kill: %+v", bs[2])
	}
	// Another runner of version 2 carries on.
	var handled atomic.Int64
	p2 := heldItemsProjection("items", live, 2, func(string) { handled.Add(1) })
	b2 := e.builds(t, "new", time.Hour, p2)
	runBuilds(t, b2)
	waitFor(t, "build 2 live", func() bool { return buildsByNumber(t, b1, "items")[2].State == projection.BuildLive })
	s, err := e.readLive(ctx, live)
	if err != nil || s.events != total || s.version != 2 {
		t.Fatalf("live view: %+v, %v", s, err)
	}
	if n, _ := e.cps.CountDeadLetters(ctx, "items#2"); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
	// It went on from the checkpoints the killed runner left: no event at
	// or before the slowest of them was handled again.
	slowest := before[0].Checkpoint
	for _, p := range before {
		if p.Checkpoint.Before(slowest) {
			slowest = p.Checkpoint
		}
	}
	left, err := e.log.CountBetween(ctx, slowest, buildsByNumber(t, b1, "items")[2].Target, eventlog.Filter{Categories: []string{"item"}})
	if err != nil {
		t.Fatal(err)
	}
	if h := handled.Load(); h > left || h == 0 || left == total {
		t.Fatalf("the second runner handled %d events; at most %d were left after the kill", h, left)
	}
}

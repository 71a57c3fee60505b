package projection_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/causewayhq/causeway/checkpoint"
	"github.com/causewayhq/causeway/eventlog"
	"github.com/causewayhq/causeway/projection"
	"github.com/causewayhq/causeway/worker"
)

type tick struct {
	N int64 `json:"n"`
}

func (tick) EventType() string { return "Tick" }

// itemsProjection is a versioned projection with one row per stream: how
// many events it has seen (n, which must grow by exactly 1 per event: a
// duplicate or a skipped event is a permanent failure), and the code
// version that wrote it. Its tables are unqualified: they land in the
// build's schema.
func itemsProjection(name, live string, version int, opts ...projection.Option) *projection.Projection {
	return heldItemsProjection(name, live, version, nil, opts...)
}

// heldItemsProjection is itemsProjection calling hold with each event's
// stream before handling it (a test holds some back).
func heldItemsProjection(name, live string, version int, hold func(stream string), opts ...projection.Option) *projection.Projection {
	return projection.New(name, append([]projection.Option{
		projection.Version(version),
		projection.Schema(live),
		projection.Categories("item"),
		projection.Partitions(4),
		projection.Retry(projection.RetryPolicy{MaxAttempts: 1}),
		projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[tick]) error {
			if hold != nil {
				hold(e.Event.StreamID)
			}
			return countItem(ctx, tx, e, version)
		}),
		projection.OnSetup(setupItems),
	}, opts...)...)
}

// countItem is itemsProjection's read model: the event's stream's row
// counts it, with the version that did.
func countItem(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[tick], version int) error {
	tag, err := tx.Exec(ctx, `UPDATE items SET n = n + 1, version = $3 WHERE stream = $1 AND n = $2 - 1`,
		e.Event.StreamID, e.Event.Version, version)
	if err != nil || tag.RowsAffected() == 1 {
		return err
	}
	if e.Event.Version != 1 {
		return projection.Permanent(fmt.Errorf("%s v%d out of order", e.Event.StreamID, e.Event.Version))
	}
	_, err = tx.Exec(ctx, `INSERT INTO items (stream, n, version) VALUES ($1, 1, $2)`, e.Event.StreamID, version)
	return err
}

func setupItems(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS items (stream text PRIMARY KEY, n bigint NOT NULL, version int NOT NULL)`)
	return err
}

func (e *env) builds(t *testing.T, member string, grace time.Duration, ps ...*projection.Projection) *projection.Builds {
	t.Helper()
	return e.buildsWith(t, member, grace, nil, ps...)
}

// buildsWith is builds whose handlers' effects go to fx (nil: none).
func (e *env) buildsWith(t *testing.T, member string, grace time.Duration, fx *projection.EffectsEnv, ps ...*projection.Projection) *projection.Builds {
	t.Helper()
	cfg := projection.BuildsConfig{Pool: e.pool, Schema: e.schema, Log: e.log, Checkpoints: e.cps,
		Projections: ps, By: member, Interval: 100 * time.Millisecond, SwapMaxLag: 1000, SampleEvery: 200 * time.Millisecond, Grace: grace,
		Worker: worker.Config{MemberID: member, LeaseTTL: 2 * time.Second}, Logger: testLogger()}
	if fx != nil {
		cfg.Effects = *fx
	}
	b, err := projection.NewBuilds(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runBuilds runs a builds loop until the test ends or stop is called.
func runBuilds(t *testing.T, b *projection.Builds) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (e *env) appendTicks(t *testing.T, streams, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		ev, _ := eventlog.NewEvent("Tick", tick{N: int64(i)})
		if _, err := e.log.Append(ctxT(t), fmt.Sprintf("item-%d", i%streams), eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
}

func buildsByNumber(t *testing.T, b *projection.Builds, name string) map[int]projection.Build {
	t.Helper()
	bs, err := b.List(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]projection.Build{}
	for _, bl := range bs {
		out[bl.Build] = bl
	}
	return out
}

// liveSnapshot is what one read of the live view sees.
type liveSnapshot struct {
	rows, events int64
	versions     int
	version      int
}

func (e *env) readLive(ctx context.Context, live string) (liveSnapshot, error) {
	var s liveSnapshot
	err := e.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(n), 0), count(DISTINCT version), coalesce(max(version), 0) FROM `+
		pgx.Identifier{live, "items"}.Sanitize()).Scan(&s.rows, &s.events, &s.versions, &s.version)
	return s, err
}

// liveWatch is a reader polling a projection's live view: no read may see
// fewer rows or events than an earlier one, nor rows of two versions.
type liveWatch struct {
	reads   atomic.Int64
	maxSeen atomic.Int64 // the highest version seen
	errc    chan error
	quit    chan struct{}
}

// watchLive starts a liveWatch; with tolerate, failed reads (PostgreSQL
// down) are skipped, else the first one ends the watch with its error.
func (e *env) watchLive(ctx context.Context, live string, tolerate bool) *liveWatch {
	w := &liveWatch{errc: make(chan error, 1), quit: make(chan struct{})}
	go func() {
		var last liveSnapshot
		for {
			select {
			case <-w.quit:
				w.errc <- nil
				return
			default:
			}
			s, err := e.readLive(ctx, live)
			if err != nil && tolerate {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if err != nil {
				w.errc <- err
				return
			}
			w.reads.Add(1)
			if s.versions > 1 {
				w.errc <- fmt.Errorf("one read saw rows of %d versions", s.versions)
				return
			}
			if s.rows < last.rows || s.events < last.events {
				w.errc <- fmt.Errorf("the live view went back: %+v after %+v", s, last)
				return
			}
			if int64(s.version) > w.maxSeen.Load() {
				w.maxSeen.Store(int64(s.version))
			}
			last = s
		}
	}()
	return w
}

// stop ends the watch and returns what it found wrong, if anything.
func (w *liveWatch) stop() error {
	close(w.quit)
	return <-w.errc
}

func (w *liveWatch) sawVersion(v int) bool { return w.maxSeen.Load() >= int64(v) }

// TestBlueGreenRebuild: a deployment bumps a versioned projection's
// version while the old runner keeps serving it and events keep coming.
// Two runners of the new code build version 2 beside version 1 and switch
// readers when it has caught up. A reader polling the live view throughout
// never sees fewer rows or events than it saw before, nor rows of two
// versions at once; the switch happens; the old build is retired, its
// workers stopped, and dropped on command.
func TestBlueGreenRebuild(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	live := e.schema + "_items"
	v1 := itemsProjection("items", live, 1)
	b1 := e.builds(t, "old", time.Hour, v1)
	runBuilds(t, b1)
	e.appendTicks(t, 50, 1000)
	waitFor(t, "build 1 live with every event", func() bool {
		s, err := e.readLive(ctx, live)
		return err == nil && s.events == 1000 && s.version == 1
	})
	if bs := buildsByNumber(t, b1, "items"); bs[1].State != projection.BuildLive || bs[1].RequestedBy != "first build: old" {
		t.Fatalf("build 1: %+v", bs[1])
	}

	// The reader and the appends run through the switch.
	reader := e.watchLive(ctx, live, false)
	appendDone, stopAppend := make(chan struct{}), make(chan struct{})
	var appended atomic.Int64
	appended.Store(1000)
	go func() {
		defer close(appendDone)
		for i := 0; ; i++ {
			select {
			case <-stopAppend:
				return
			default:
			}
			ev, _ := eventlog.NewEvent("Tick", tick{N: int64(i)})
			if _, err := e.log.Append(ctx, fmt.Sprintf("item-%d", i%80), eventlog.Any, ev); err != nil {
				t.Error(err)
				return
			}
			appended.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()

	// The deployment: two runners of version 2 start; the old one runs on.
	// Version 2 holds back the events of stream item-held until the gate
	// opens: when it gets within the switch's lag threshold it is still
	// behind the live build, which has handled them. The switch must wait
	// until it has passed the frozen live build.
	gate := make(chan struct{})
	hold := func(stream string) {
		if stream == "item-held" {
			<-gate
		}
	}
	v2a, v2b := heldItemsProjection("items", live, 2, hold), heldItemsProjection("items", live, 2, hold)
	b2a, b2b := e.builds(t, "new-a", time.Hour, v2a), e.builds(t, "new-b", time.Hour, v2b)
	runBuilds(t, b2a)
	runBuilds(t, b2b)
	waitFor(t, "build 2 started", func() bool { return buildsByNumber(t, b1, "items")[2].State == projection.BuildBuilding })
	for i := 0; i < 20; i++ {
		ev, _ := eventlog.NewEvent("Tick", tick{N: int64(i)})
		if _, err := e.log.Append(ctx, "item-held", eventlog.Any, ev); err != nil {
			t.Fatal(err)
		}
		appended.Add(1)
	}
	time.AfterFunc(1500*time.Millisecond, func() { close(gate) })
	t0 := time.Now()
	waitFor(t, "build 2 live", func() bool {
		bs := buildsByNumber(t, b1, "items")
		return bs[2].State == projection.BuildLive && bs[1].State == projection.BuildRetired
	})
	t.Logf("switched after %v (%d appended)", time.Since(t0), appended.Load())
	time.Sleep(200 * time.Millisecond) // appends and reads go on after the switch too
	close(stopAppend)
	<-appendDone
	waitFor(t, "every event in the live view", func() bool {
		s, err := e.readLive(ctx, live)
		return err == nil && s.events == appended.Load()
	})
	if err := reader.stop(); err != nil {
		t.Fatal(err)
	}
	if !reader.sawVersion(2) || reader.reads.Load() < 10 {
		t.Fatalf("reader: %d reads, saw version 2: %v", reader.reads.Load(), reader.sawVersion(2))
	}
	bs := buildsByNumber(t, b1, "items")
	if b := bs[2]; b.Version != 2 || b.RequestedBy[:8] != "deploy: " || b.LiveAt.IsZero() || b.Done != b.Total {
		t.Fatalf("build 2: %+v", b)
	}
	if b := bs[1]; b.RetiredAt.IsZero() || b.DropAfter.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("build 1: %+v", b)
	}
	// The old runner stopped its worker of the retired build; the new ones
	// run only build 2 (both of them: they share its partitions).
	waitFor(t, "workers follow the states", func() bool {
		return len(b1.RunningBuilds()) == 0 && fmt.Sprint(b2a.RunningBuilds()) == "[items#2]" && fmt.Sprint(b2b.RunningBuilds()) == "[items#2]"
	})
	for _, sub := range []string{"items#1", "items#2"} {
		if n, _ := e.cps.CountDeadLetters(ctx, sub); n != 0 {
			dls, _ := e.cps.DeadLetters(ctx, checkpoint.DeadLetterQuery{Subscription: sub})
			t.Fatalf("%s: %d dead letters: %+v", sub, n, dls[0])
		}
	}

	// Drop on command: the retired build's schema and subscription go.
	if _, err := b2a.Drop(ctx, "items", 2, "test"); !errors.Is(err, projection.ErrBuildState) {
		t.Fatalf("dropping the live build: %v", err)
	}
	dropped, err := b2a.Drop(ctx, "items", 0, "test")
	if err != nil || len(dropped) != 1 || dropped[0].Build != 1 {
		t.Fatalf("drop: %+v, %v", dropped, err)
	}
	if n := e.count(t, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, live+"__b1"); n != 0 {
		t.Fatal("build 1's schema is still there")
	}
	if _, err := e.cps.Subscription(ctx, "items#1"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("build 1's subscription: %v", err)
	}
	if s, err := e.readLive(ctx, live); err != nil || s.events != appended.Load() {
		t.Fatalf("live view after the drop: %+v, %v", s, err)
	}
}

// TestRebuildAbortAndGrace: a rebuild started by an operator and aborted
// leaves the live build and its views untouched and drops the new build's
// schema and subscription; a second start while one is building is
// refused; a retired build is dropped by itself once its grace period is
// over. An in-place replay of a versioned projection is refused.
func TestRebuildAbortAndGrace(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	live := e.schema + "_items"
	p := itemsProjection("items", live, 1)
	if err := projection.Reset(ctx, p, e.cps); !errors.Is(err, projection.ErrVersioned) {
		t.Fatalf("replay of a versioned projection: %v", err)
	}
	if _, err := p.Subscription(); !errors.Is(err, projection.ErrVersioned) {
		t.Fatalf("subscription of a versioned projection: %v", err)
	}
	e.appendTicks(t, 10, 200)
	b := e.builds(t, "m", 300*time.Millisecond, p)
	stop := runBuilds(t, b)
	waitFor(t, "build 1 live", func() bool {
		s, err := e.readLive(ctx, live)
		return err == nil && s.events == 200
	})
	// A rebuild that no runner works on (the loop is stopped): it stays
	// building until aborted.
	stop()
	bl, err := b.Start(ctx, "items", "ops")
	if err != nil || bl.Build != 2 || bl.State != projection.BuildBuilding || bl.Total != 200 {
		t.Fatalf("start: %+v, %v", bl, err)
	}
	if _, err := b.Start(ctx, "items", "ops"); !errors.Is(err, projection.ErrBuildInProgress) {
		t.Fatalf("second start: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'items'`, live+"__b2"); n != 1 {
		t.Fatal("the set-up hook did not run in build 2's schema")
	}
	if _, err := b.Abort(ctx, "items", "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Abort(ctx, "items", "ops"); !errors.Is(err, projection.ErrNoBuild) {
		t.Fatalf("second abort: %v", err)
	}
	bs := buildsByNumber(t, b, "items")
	if bs[1].State != projection.BuildLive || bs[2].State != projection.BuildAborted || bs[2].DroppedAt.IsZero() {
		t.Fatalf("builds after abort: %+v", bs)
	}
	if n := e.count(t, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, live+"__b2"); n != 0 {
		t.Fatal("the aborted build's schema is still there")
	}
	if s, err := e.readLive(ctx, live); err != nil || s.events != 200 || s.version != 1 {
		t.Fatalf("live view after abort: %+v, %v", s, err)
	}

	// A rebuild that runs: switched to, then build 1 dropped after its
	// grace period with nobody asking.
	runBuilds(t, b)
	if _, err := b.Start(ctx, "items", "ops"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "build 3 live and build 1 dropped", func() bool {
		bs := buildsByNumber(t, b, "items")
		return bs[3].State == projection.BuildLive && bs[1].State == projection.BuildDropped
	})
	if n := e.count(t, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, live+"__b1"); n != 0 {
		t.Fatal("the retired build's schema is still there")
	}
	if s, err := e.readLive(ctx, live); err != nil || s.events != 200 {
		t.Fatalf("live view: %+v, %v", s, err)
	}
}

// TestSupersededBuild: a build of version 2 left unfinished (no runner of
// version 2 remains) is superseded when version 3 is deployed: aborted
// and dropped, and version 3 built and switched to.
func TestSupersededBuild(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	live := e.schema + "_items"
	e.appendTicks(t, 5, 50)
	b1 := e.builds(t, "v1", time.Hour, itemsProjection("items", live, 1))
	stop := runBuilds(t, b1)
	waitFor(t, "build 1 live", func() bool { s, err := e.readLive(ctx, live); return err == nil && s.events == 50 })
	stop()
	if _, err := e.builds(t, "v2", time.Hour, itemsProjection("items", live, 2)).Start(ctx, "items", "ops"); err != nil {
		t.Fatal(err)
	}
	b3 := e.builds(t, "v3", time.Hour, itemsProjection("items", live, 3))
	runBuilds(t, b3)
	waitFor(t, "version 3 live", func() bool {
		bs := buildsByNumber(t, b3, "items")
		return bs[2].State == projection.BuildAborted && bs[3].State == projection.BuildLive && bs[3].Version == 3
	})
	if s, err := e.readLive(ctx, live); err != nil || s.events != 50 || s.version != 3 {
		t.Fatalf("live view: %+v, %v", s, err)
	}
}

// testLogger logs to stderr when CW_TEST_LOG is set (debugging), nowhere
// otherwise.
func testLogger() *slog.Logger {
	if os.Getenv("CW_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestVersionOptions: the live schema's default and its checks.
func TestVersionOptions(t *testing.T) {
	on := projection.On(func(ctx context.Context, tx pgx.Tx, e eventlog.Envelope[tick]) error { return nil })
	p := projection.New("Order.Summary-v:x", projection.Version(1), on)
	if err := p.Err(); err != nil || projection.LiveSchema(p) != "order_summary_v_x" || !p.Versioned() || p.CodeVersion() != 1 {
		t.Fatalf("err %v, live schema %q", err, projection.LiveSchema(p))
	}
	if s := projection.LiveSchema(projection.New("plain", on)); s != "" {
		t.Fatalf("unversioned live schema %q", s)
	}
	for _, bad := range []*projection.Projection{
		projection.New("p", projection.Version(0), on),
		projection.New("p", projection.Version(1), projection.Schema("Has Space"), on),
		projection.New("p", projection.Version(1), projection.Schema("pg_mine"), on),
		projection.New("a"+strings.Repeat("b", 50), projection.Version(1), on),
	} {
		if bad.Err() == nil {
			t.Errorf("%s: no error", bad.Name())
		}
	}
}
